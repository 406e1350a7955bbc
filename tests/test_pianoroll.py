"""bridge.pianoroll: a PNG whose pixels show the notes where they are, per track colour."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bridge.errors import ConfigError
from bridge.events import Note
from bridge.pianoroll import colour_of, pitch_name, render


def _where(img: np.ndarray, hex_colour: str) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    ys, xs = np.nonzero(np.abs(img.astype(int) - rgb).sum(axis=2) < 6)
    return ys, xs


def test_notes_land_at_their_pitch_and_time(tmp_path):
    high, low = Note(84, 127, 0.0, 1.0), Note(60, 127, 6.0, 2.0)
    path = render({"hi": [high], "lo": [low]}, tmp_path / "roll.png", title="two notes")
    img = np.asarray(Image.open(path).convert("RGB"))
    hy, hx = _where(img, colour_of("hi"))
    ly, lx = _where(img, colour_of("lo", [colour_of("hi")]))
    hx, hy = hx[hy > 40], hy[hy > 40]  # drop the legend swatch
    lx, ly = lx[ly > 40], ly[ly > 40]
    assert hy.size and ly.size
    assert hy.mean() < ly.mean()                  # higher pitch drawn higher
    assert hx.mean() < lx.mean()                  # earlier note drawn further left
    assert (lx.max() - lx.min()) > 1.5 * (hx.max() - hx.min())  # 2 beats wider than 1 beat


def test_long_pieces_wrap_into_systems(tmp_path):
    two = render([Note(60, 90, 0, 1), Note(62, 90, 7, 1)], tmp_path / "a.png", bars_per_line=8)
    many = render([Note(60, 90, 0, 1), Note(62, 90, 63, 1)], tmp_path / "b.png", bars_per_line=8)
    w2, h2 = Image.open(two).size
    wm, hm = Image.open(many).size
    assert hm > 1.8 * h2          # 16 bars at 8 a line: two systems
    assert wm > w2                 # a full 8-bar line is wider than a 2-bar one


def test_empty_and_bad_arguments(tmp_path):
    path = render([], tmp_path / "empty.png", title="nothing")
    assert Image.open(path).size[0] > 100
    with pytest.raises(ConfigError):
        render([], tmp_path / "x.png", beats_per_bar=0)


def test_pitch_names():
    assert [pitch_name(p) for p in (60, 48, 61, 96)] == ["C4", "C3", "C#4", "C7"]


def test_marks_are_drawn_in_the_track_colour(tmp_path):
    notes = {"phrase a": [Note(60, 127, 0, 8)], "phrase b": [Note(62, 127, 8, 8)]}
    plain = np.asarray(Image.open(render(notes, tmp_path / "p.png")).convert("RGB"))
    marked = np.asarray(Image.open(render(notes, tmp_path / "m.png", marks=[(8.0, "phrase b")])).convert("RGB"))
    assert plain.shape == marked.shape
    ys, xs = np.nonzero(np.abs(marked.astype(int) - plain.astype(int)).sum(axis=2) > 30)
    assert ys.size and xs.min() > marked.shape[1] // 3  # the label sits at beat 8, not at the start


def test_pianoroll_command_colours_each_track_of_a_file(tmp_path):
    from bridge.cli import main
    from bridge.recorder import Recorder

    rec = Recorder(tmp_path / "take.mid")        # what `run` records: a track per channel
    rec.player(0, "cmt")
    rec.player(5, "midime")
    rec.add(0.0, [0x90, 48, 127])               # in time order, as the transport sends them
    rec.add(0.0, [0x95, 72, 127])
    rec.add(4.0, [0x80, 48, 0])
    rec.add(4.0, [0x85, 72, 0])
    rec.write()
    assert main(["pianoroll", str(tmp_path / "take.mid"), "-o", str(tmp_path / "take.png")]) == 0
    img = np.asarray(Image.open(tmp_path / "take.png").convert("RGB"))
    first = colour_of("cmt ch 1")
    (fy, fx), (sy, sx) = _where(img, first), _where(img, colour_of("midime ch 6", [first]))
    fx, fy, sx, sy = fx[fy > 70], fy[fy > 70], sx[sy > 70], sy[sy > 70]   # below the title and legend
    assert fy.size and sy.size
    assert sy.mean() < fy.mean()                                # midime's C5 drawn above cmt's C3
    assert abs((sx.max() - sx.min()) - (fx.max() - fx.min())) <= 2   # both last the same bar


def test_an_instrument_keeps_its_colour_across_pictures(tmp_path):
    """The same part is drawn in the same colour whatever else is in the picture, and in whatever order."""
    a = render({"bass": [Note(40, 127, 0, 4)], "lead": [Note(72, 127, 0, 4)]}, tmp_path / "a.png")
    b = render({"strings": [Note(60, 127, 0, 4)], "piano": [Note(64, 127, 4, 4)], "lead": [Note(76, 127, 0, 4)],
                "bass": [Note(38, 127, 0, 4)]}, tmp_path / "b.png")
    for path in (a, b):
        img = np.asarray(Image.open(path).convert("RGB"))
        for name in ("bass", "lead"):
            ys, _ = _where(img, colour_of(name))
            assert ys[ys > 40].size, (path.name, name)
    assert colour_of("bass") != colour_of("lead") and colour_of("cmt bass") == colour_of("bass")
    assert colour_of("my synth") == colour_of("my synth")            # a hash, not an order


def test_the_legend_counts_what_the_file_holds(tmp_path):
    """Unisons struck together (one MIDI note in the file) count once in the picture too."""
    from bridge.midifile import merge_unisons, read_notes, write_notes

    notes = [Note(60, 90, 0.0, 1.0), Note(60, 80, 0.0, 2.0), Note(64, 90, 0.0, 1.0), Note(60, 90, 1.0, 1.0)]
    merged = merge_unisons(notes)
    assert len(merged) == 3 and merged[0].duration == 1.0             # the repeat at beat 1 ends the long one
    write_notes(tmp_path / "u.mid", notes)
    assert len(read_notes(tmp_path / "u.mid")) == len(merged)
    assert merge_unisons(merged) == merged

"""CMT compound-word tokens: exact round trips on Bach chorales and on edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from bridge.errors import InputError
from bridge.events import Note
from plugins.cmt import tokens as T
from export.cmt.parts import instrument_for_part, score_notes

CHORALES = ("bach/bwv66.6", "bach/bwv7.7", "bach/bwv250")


def _round_trip(notes: dict[str, list[Note]], bpb: float, bars: int | None = None) -> np.ndarray:
    tok = T.encode(notes, bpb, bars=bars)
    assert tok.dtype == np.int64 and tok.shape[1] == len(T.FIELDS)
    assert ((tok >= 0) & (tok < np.array(T.VOCAB_SIZES))).all()
    back = T.decode(tok, bpb)
    assert back == T.quantized(notes)
    np.testing.assert_array_equal(T.encode(back, bpb, bars=bars), tok)
    return tok


@pytest.mark.parametrize("work", CHORALES)
def test_chorale_round_trip_is_exact(work):
    from music21 import corpus

    score = corpus.parse(work)
    notes, bpb = score_notes(score)
    assert set(notes) == {"lead", "strings", "bass"}
    assert sum(len(v) for v in notes.values()) > 100
    # chorales are on the 16th grid: quantizing changes nothing but the velocity
    for name, part in notes.items():
        q = T.quantized({name: part})[name]
        assert sorted((n.start, n.pitch, n.duration) for n in part) == [(n.start, n.pitch, n.duration) for n in q]
    tok = _round_trip(notes, bpb)
    bars = tok[(tok[:, T.F["type"]] == T.METRICAL) & (tok[:, T.F["beat"]] == T.BAR_LINE)]
    last_onset = max(n.start for v in notes.values() for n in v)
    assert len(bars) == int(last_onset // bpb) + 1 >= 8
    # four voices moving together: strength (simultaneous onsets) mostly 3..4, density non-empty
    controls = T.bar_controls(tok)
    assert (controls[1:-1, 0] >= 1).all()
    assert np.median(controls[:, 1]) >= 3
    assert tok[-1, T.F["type"]] == T.END


def test_part_names_map_to_instrument_classes():
    assert [instrument_for_part(n, i, 4) for i, n in enumerate(["Soprano", "Alto", "Tenor", "Bass"])] == \
        ["lead", "strings", "strings", "bass"]
    assert [instrument_for_part(n, i, 4) for i, n in enumerate(["Violin I", "Violin II", "Viola", "Violoncello"])] == \
        ["lead", "strings", "strings", "bass"]
    assert instrument_for_part("Piano", 1, 2) == "piano"
    assert [instrument_for_part("", i, 3) for i in range(3)] == ["lead", "strings", "bass"]


def test_edge_cases_round_trip():
    notes = {
        "piano": [Note(60, 100, 0.0, 1.0), Note(60, 100, 0.0, 1.0),        # a duplicate stays a duplicate
                  Note(64, 80, 0.26, 0.1),                                 # off-grid -> 16th grid, min 1 step
                  Note(67, 80, 3.75, 40.0)],                               # longer than MAX_DURATION -> clipped
        "drums": [Note(36, 100, 0.0, 0.25), Note(38, 100, 1.0, 0.25)],
        "bass": [Note(28, 90, 13.5, 2.0)],                                 # after two empty bars
    }
    tok = _round_trip(notes, 4.0)
    back = T.decode(tok, 4.0)
    assert back["piano"][-1].duration == T.MAX_DURATION / T.STEPS_PER_BEAT
    assert back["piano"][2].start == 0.25 and back["piano"][2].duration == 0.25
    assert back["drums"][0].channel == 9
    controls = T.bar_controls(tok)
    assert controls.tolist()[1:3] == [[0, 0], [0, 0]]      # empty bars
    assert controls[0, 1] == 2                              # 5 onsets at 3 positions
    # odd meters, trailing empty bars, no notes at all
    _round_trip({"lead": [Note(72, 90, 0.0, 0.5), Note(74, 90, 3.25, 0.25)]}, 3.5, bars=4)
    empty = _round_trip({}, 4.0, bars=2)
    assert empty[:, T.F["type"]].tolist() == [T.METRICAL, T.METRICAL, T.END]
    # a long piece: the bar encoding clips, decoding still counts bar tokens
    long = {"strings": [Note(55, 90, 4.0 * b, 1.0) for b in range(0, 300, 7)]}
    tok = _round_trip(long, 4.0)
    assert tok[:, T.F["bar"]].max() == T.MAX_BARS
    assert tok[:, T.F["progress"]].max() == T.PROGRESS_CLASSES


def test_density_follows_onsets():
    sparse = {"lead": [Note(60, 90, 0.0, 4.0)]}
    dense = {"lead": [Note(60, 90, i / 4, 0.25) for i in range(16)]}
    assert T.bar_controls(T.encode(sparse))[0, 0] == 1
    assert T.bar_controls(T.encode(dense))[0, 0] == T.DENSITY_CLASSES - 1


def test_bad_input_is_a_one_line_input_error():
    with pytest.raises(InputError, match="unknown instrument class 'tuba'"):
        T.encode({"tuba": [Note(40, 90, 0.0, 1.0)]})
    with pytest.raises(InputError, match="beats_per_bar"):
        T.encode({}, 9.0)
    with pytest.raises(InputError, match="only 1 bars"):
        T.encode({"lead": [Note(60, 90, 4.0, 1.0)]}, 4.0, bars=1)
    with pytest.raises(InputError, match="shape"):
        T.decode(np.zeros((3, 2), np.int64))


def test_decode_is_lenient_with_sampled_garbage():
    tok = np.zeros((5, len(T.FIELDS)), np.int64)
    tok[0, T.F["type"]] = T.NOTE                           # a note before any bar: bar 0, position 0
    tok[0, [T.F["pitch"], T.F["duration"], T.F["instrument"]]] = [61, 4, 1]
    tok[1, T.F["type"]] = T.NOTE                           # a note with no pitch: skipped
    tok[2, T.F["type"]] = T.END
    tok[3, T.F["type"]] = T.NOTE                           # after the end: ignored
    tok[3, [T.F["pitch"], T.F["duration"], T.F["instrument"]]] = [61, 4, 1]
    assert T.decode(tok) == {"lead": [Note(60, T.DEFAULT_VELOCITY, 0.0, 1.0, T.INSTRUMENTS[0].channel)]}


def test_plugin_side_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, plugins.cmt.tokens, plugins.cmt.video, plugins.cmt.sampling, "
            "plugins.cmt.video2midi; "
            "print(sorted(m for m in ('torch', 'music21', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

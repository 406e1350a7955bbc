"""Piano-roll PNGs of notes in beats, drawn with pillow alone (no matplotlib in the host).

One row per pitch (black-key rows shaded, every C labelled), beat and bar
lines, bar numbers, one colour per track with a legend, and a title. A track
keeps its colour from picture to picture (:func:`colour_of`: instruments have
their own, other names a colour from their hash), and the notes are merged as
the .mid file merges them (:func:`bridge.midifile.merge_unisons`), so the
legend counts what the file holds. Long
pieces wrap onto several systems of ``bars_per_line`` bars, like a score, so
a set of eight 2-bar samples laid end to end reads at a glance.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

from .errors import ConfigError
from .events import Note
from .midifile import merge_unisons

log = logging.getLogger(__name__)

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")
#: one colour per instrument, the same in every picture (CMT's parts, GM families, MidiMe's melody)
INSTRUMENT_COLOURS = {"lead": "#d62728", "melody": "#d62728", "strings": "#2ca02c", "piano": "#1f77b4",
                      "bass": "#9467bd", "guitar": "#ff7f0e", "drums": "#7f7f7f", "notes": "#1f77b4",
                      "flute": "#d62728", "violin": "#2ca02c", "sax": "#17becf", "trumpet": "#bcbd22"}
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
BLACK_KEYS = {1, 3, 6, 8, 10}
BACKGROUND = (255, 255, 255)
SHADE = (238, 240, 245)
BEAT_LINE = (214, 217, 224)
BAR_LINE = (120, 124, 135)
C_LINE = (180, 184, 196)
TEXT = (40, 42, 48)
MIN_SPAN = 24      # semitones shown at least (two octaves)
MAX_WIDTH = 2400   # px of one system before beats get narrower


def pitch_name(pitch: int) -> str:
    """``60 -> 'C4'`` (MIDI 60 = middle C = C4)."""
    return f"{NAMES[pitch % 12]}{pitch // 12 - 1}"


def font(size: int):
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "Arial.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pillow < 10.1
        return ImageFont.load_default()


def colour_of(name: str, taken: Sequence[str] = ()) -> str:
    """The colour of track ``name`` in every picture: its instrument's (a word of the name, e.g. "cmt bass"),
    else one from a hash of the name; another when ``taken`` by a track drawn before it."""
    import zlib

    for word in [name.lower(), *name.lower().replace("_", " ").split()]:
        if word in INSTRUMENT_COLOURS and INSTRUMENT_COLOURS[word] not in taken:
            return INSTRUMENT_COLOURS[word]
    start = zlib.crc32(name.encode()) % len(PALETTE)
    for i in range(len(PALETTE)):
        colour = PALETTE[(start + i) % len(PALETTE)]
        if colour not in taken:
            return colour
    return PALETTE[start]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def render(notes: Sequence[Note] | Mapping[str, Sequence[Note]], path: str | Path, title: str = "",
           beats_per_bar: int = 4, bars_per_line: int = 8, marks: Sequence[tuple[float, str]] = ()) -> Path:
    """Draw ``notes`` (a list, or ``{track name: notes}`` overlaid in colours) into the PNG ``path``.

    ``marks`` are ``(beat, text)`` labels written above the roll at that beat
    (in the track's colour when the text is a track name), e.g. phrase names.
    """
    from PIL import Image, ImageDraw

    if beats_per_bar < 1 or bars_per_line < 1:
        raise ConfigError("beats_per_bar and bars_per_line must be >= 1")
    tracks = {str(k): merge_unisons(v) for k, v in notes.items()} if isinstance(notes, Mapping) \
        else {"notes": merge_unisons(list(notes))}
    every = [n for v in tracks.values() for n in v]
    end_beat = max((n.end for n in every), default=float(beats_per_bar))
    bars = max(1, math.ceil(end_beat / beats_per_bar - 1e-9))
    per_line = min(bars, bars_per_line)
    lines = math.ceil(bars / per_line)

    lo = min((n.pitch for n in every), default=60) - 2
    hi = max((n.pitch for n in every), default=60) + 2
    if hi - lo + 1 < MIN_SPAN:
        grow = MIN_SPAN - (hi - lo + 1)
        lo, hi = lo - grow // 2, hi + grow - grow // 2
    lo, hi = max(0, lo), min(127, hi)
    span = hi - lo + 1
    row = 9 if span <= 40 else 6 if span <= 72 else 4
    beat_px = max(12, min(56, MAX_WIDTH // (per_line * beats_per_bar)))

    left, right, top = 48, 16, 14
    title_h = 30 if title else 0
    legend_h = 24 if len(tracks) > 1 or title else 0
    bar_label_h, gap = 16, 14
    system_h = span * row
    width = left + per_line * beats_per_bar * beat_px + right
    height = top + title_h + legend_h + lines * (bar_label_h + system_h + gap) + 4
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    small, big = font(11), font(17)

    y = top
    if title:
        draw.text((left, y), title, fill=TEXT, font=big)
        y += title_h
    picked: dict[str, str] = {}
    for name in tracks:
        picked[name] = colour_of(name, list(picked.values()))
    colours = {name: _rgb(c) for name, c in picked.items()}
    if legend_h:
        x = left
        for name, colour in colours.items():
            label = f"{name} ({len(tracks[name])})"
            draw.rectangle((x, y + 4, x + 12, y + 14), fill=colour)
            draw.text((x + 17, y + 2), label, fill=TEXT, font=small)
            x += 17 + int(draw.textlength(label, font=small)) + 18
            if x > width - 120:
                break
        y += legend_h

    systems = []
    for line in range(lines):
        first_bar = line * per_line
        n_bars = min(per_line, bars - first_bar)
        y0 = y + bar_label_h
        systems.append((first_bar, y0))
        x_end = left + n_bars * beats_per_bar * beat_px
        for p in range(lo, hi + 1):
            ry = y0 + (hi - p) * row
            if p % 12 in BLACK_KEYS:
                draw.rectangle((left, ry, x_end, ry + row - 1), fill=SHADE)
            if p % 12 == 0:
                draw.line((left, ry + row - 1, x_end, ry + row - 1), fill=C_LINE)
                label = pitch_name(p)
                tw = draw.textlength(label, font=small)
                draw.text((left - 6 - tw, ry + row / 2 - 7), label, fill=TEXT, font=small)
        for b in range(n_bars * beats_per_bar + 1):
            x = left + b * beat_px
            is_bar = b % beats_per_bar == 0
            draw.line((x, y0, x, y0 + system_h), fill=BAR_LINE if is_bar else BEAT_LINE, width=2 if is_bar else 1)
            if is_bar and b < n_bars * beats_per_bar:
                draw.text((x + 3, y), str(first_bar + b // beats_per_bar + 1), fill=BAR_LINE, font=small)
        draw.rectangle((left, y0, x_end, y0 + system_h), outline=BAR_LINE)
        y = y0 + system_h + gap

    line_beats = per_line * beats_per_bar
    for beat, text in marks:
        line = min(int(beat // line_beats), len(systems) - 1)
        x = left + (beat - line * line_beats) * beat_px + 3
        if abs(beat / beats_per_bar - round(beat / beats_per_bar)) < 1e-9:  # after the bar number there
            x += draw.textlength(f"{int(round(beat / beats_per_bar)) + 1}  ", font=small)
        draw.text((x, systems[line][1] - bar_label_h), str(text), fill=colours.get(text, TEXT), font=small)
    for name, voice in tracks.items():
        colour = colours[name]
        for n in voice:
            _draw_note(draw, n, colour, systems, line_beats, beat_px, left, hi, row)
    if not every:
        draw.text((left + 8, systems[0][1] + system_h / 2 - 8), "(no notes)", fill=BAR_LINE, font=big)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "PNG", optimize=True)
    return path


def _draw_note(draw, n: Note, colour, systems, line_beats: int, beat_px: int, left: int, hi: int, row: int) -> None:
    """One note, split across systems when it crosses a line break."""
    fill = _mix(colour, BACKGROUND, 0.45 * (1 - n.velocity / 127))
    outline = _mix(colour, (0, 0, 0), 0.35)
    start, end = n.start, n.end
    while start < end - 1e-9:
        line = min(int(start // line_beats), len(systems) - 1)
        line_end = (line + 1) * line_beats
        seg_end = min(end, line_end)
        _, y0 = systems[line]
        x0 = left + (start - line * line_beats) * beat_px
        x1 = left + (seg_end - line * line_beats) * beat_px
        ry = y0 + (hi - n.pitch) * row
        draw.rectangle((x0 + 1, ry, max(x0 + 2, x1 - 1), ry + row - 1), fill=fill, outline=outline)
        start = seg_end
        if line == len(systems) - 1:
            break

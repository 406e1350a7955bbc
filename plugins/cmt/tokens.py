"""CMT's compound-word tokens: multi-track music in bars as an int array [T, F].

Each token is one row of :data:`FIELDS` (after Di et al., *Video Background Music
Generation with Controllable Music Transformer*, ACM MM 2021). A row has one
value per field; 0 always means "does not apply to this token type", so every
class is stored as ``class + 1``.

Token types, in the order they appear::

    [metrical: bar]  (density and strength of the whole bar)
      [metrical: position p]  (strength at p)   [note] [note] ...   (notes starting at p)
      [metrical: position q] ...
    [metrical: bar] ...
    [end]

- ``beat``: 1 = bar line, 2 + p = onset position p in the bar on a 16th grid
  (p < :data:`MAX_POSITIONS`, i.e. bars up to 8 quarter beats).
- ``density`` (bar tokens): the bar's rhythmic density class, from the number of
  onset positions per beat (:func:`density_class`, 0 = empty bar).
- ``strength``: on position tokens the number of notes starting there (clipped),
  on bar tokens the bar's rhythmic strength class: the mean number of
  simultaneous onsets per onset position, rounded (:func:`strength_class`).
- ``pitch`` (MIDI 0..127), ``duration`` (16ths, 1..:data:`MAX_DURATION`, longer
  notes are clipped), ``instrument`` (index into :data:`INSTRUMENTS`): note tokens.
- time encoding, on every token: ``bar`` (bar index, clipped to
  :data:`MAX_BARS` - 1) and ``progress`` (which 16th of the whole piece the bar is
  in, from the piece's known length in bars, like CMT's beat-timing encoding).

Notes are in beats (quarter notes), quantized to 16ths on encoding; velocity is
not represented (:func:`decode` uses a fixed one). ``decode(encode(x))`` equals
``x`` quantized, and ``encode(decode(t))`` equals ``t`` for any ``t`` made by
:func:`encode`.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from bridge.api import InputError, Note

from .params import DEFAULT_CHANNELS, DENSITY_CLASSES, PART_NAMES, STRENGTH_CLASSES  # noqa: F401  (vocabulary)

log = logging.getLogger(__name__)

FIELDS = ("type", "beat", "density", "strength", "pitch", "duration", "instrument", "bar", "progress")
F = {name: i for i, name in enumerate(FIELDS)}
PAD, METRICAL, NOTE, END = 0, 1, 2, 3
BAR_LINE = 1
STEPS_PER_BEAT = 4                  # 16th grid
MAX_POSITIONS = 32                  # onset positions per bar: up to 8 quarter beats
MAX_DURATION = 64                   # 16ths: 16 beats
MAX_BARS = 256
PROGRESS_CLASSES = 16
DEFAULT_VELOCITY = 90


@dataclass(frozen=True)
class Instrument:
    """One of CMT's instrument classes: its General MIDI program (0-based) and channel (0..15)."""

    name: str
    program: int
    channel: int
    low: int        # usual range (MIDI), for sanity checks
    high: int


# The instrument classes (CMT used LPD's drums/piano/guitar/bass/strings; we add "lead"
# for the top melodic part of chorales and quartets). See docs/cmt.md for the mapping.
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("lead", 73, DEFAULT_CHANNELS["lead"] - 1, 55, 96),        # GM 74 Flute
    Instrument("strings", 48, DEFAULT_CHANNELS["strings"] - 1, 40, 88),  # GM 49 String Ensemble 1
    Instrument("piano", 0, DEFAULT_CHANNELS["piano"] - 1, 21, 108),      # GM 1 Acoustic Grand Piano
    Instrument("bass", 32, DEFAULT_CHANNELS["bass"] - 1, 24, 62),        # GM 33 Acoustic Bass
    Instrument("guitar", 24, DEFAULT_CHANNELS["guitar"] - 1, 40, 84),    # GM 25 Acoustic Guitar (nylon)
    Instrument("drums", 0, DEFAULT_CHANNELS["drums"] - 1, 35, 81),       # GM channel 10
)
if tuple(i.name for i in INSTRUMENTS) != PART_NAMES:
    raise ImportError("plugins.cmt.params.PART_NAMES must list INSTRUMENTS in order")
INSTRUMENT_INDEX = {ins.name: i for i, ins in enumerate(INSTRUMENTS)}

VOCAB = {
    "type": 4,
    "beat": 2 + MAX_POSITIONS,
    "density": 1 + DENSITY_CLASSES,
    "strength": 1 + STRENGTH_CLASSES,
    "pitch": 1 + 128,
    "duration": 1 + MAX_DURATION,
    "instrument": 1 + len(INSTRUMENTS),
    "bar": 1 + MAX_BARS,
    "progress": 1 + PROGRESS_CLASSES,
}
VOCAB_SIZES = tuple(VOCAB[f] for f in FIELDS)


def steps_per_bar(beats_per_bar: float) -> int:
    steps = round(beats_per_bar * STEPS_PER_BEAT)
    if abs(steps - beats_per_bar * STEPS_PER_BEAT) > 1e-6 or not 1 <= steps <= MAX_POSITIONS:
        raise InputError(f"beats_per_bar must be a multiple of 1/4 in 0.25..8, got {beats_per_bar}")
    return steps


def density_class(onset_positions: int, beats_per_bar: float) -> int:
    """0 for an empty bar, else 1..7 from onset positions per beat (0.5 per class)."""
    if onset_positions <= 0:
        return 0
    return int(min(DENSITY_CLASSES - 1, max(1, np.ceil(2.0 * onset_positions / beats_per_bar - 1e-9))))


def strength_class(onsets: int, onset_positions: int) -> int:
    """0 for an empty bar, else the mean simultaneous onsets per onset position, rounded, 1..7."""
    if onset_positions <= 0:
        return 0
    return int(min(STRENGTH_CLASSES - 1, max(1, round(onsets / onset_positions))))


def progress_class(bar: int, total_bars: int) -> int:
    return min(PROGRESS_CLASSES - 1, bar * PROGRESS_CLASSES // max(total_bars, 1))


def instrument_name(index: int) -> str:
    return INSTRUMENTS[index].name


def _quantize(notes: dict[str, list[Note]]) -> list[tuple[int, int, int, int]]:
    """(start step, instrument, pitch, duration steps) for every note."""
    out = []
    for name, part in notes.items():
        if name not in INSTRUMENT_INDEX:
            raise InputError(f"unknown instrument class {name!r} (have: {', '.join(INSTRUMENT_INDEX)})")
        ins = INSTRUMENT_INDEX[name]
        for n in part:
            start = int(round(n.start * STEPS_PER_BEAT))
            dur = int(min(MAX_DURATION, max(1, round(n.duration * STEPS_PER_BEAT))))
            out.append((start, ins, int(n.pitch), dur))
    out.sort()
    return out


def quantized(notes: dict[str, list[Note]]) -> dict[str, list[Note]]:
    """What :func:`decode` returns for ``encode(notes)``: notes on the 16th grid, fixed velocity, sorted."""
    out: dict[str, list[Note]] = {}
    for start, ins, pitch, dur in _quantize(notes):
        i = INSTRUMENTS[ins]
        out.setdefault(i.name, []).append(
            Note(pitch, DEFAULT_VELOCITY, start / STEPS_PER_BEAT, dur / STEPS_PER_BEAT, i.channel))
    return out


def encode(notes: dict[str, list[Note]], beats_per_bar: float = 4.0, bars: int | None = None) -> np.ndarray:
    """Compound-word tokens int64 [T, len(FIELDS)] for notes (beats, from a bar line) per instrument class.

    ``bars``: the piece's length in bars (default: up to the last onset); it sets
    the progress encoding and how many (possibly empty) bars are written.
    """
    spb = steps_per_bar(beats_per_bar)
    q = _quantize(notes)
    last_bar = (q[-1][0] // spb) if q else -1
    total = bars if bars is not None else last_bar + 1
    if total < last_bar + 1:
        raise InputError(f"notes reach bar {last_bar + 1} but the piece has only {total} bars")
    by_bar: dict[int, dict[int, list[tuple[int, int, int]]]] = defaultdict(lambda: defaultdict(list))
    for start, ins, pitch, dur in q:
        by_bar[start // spb][start % spb].append((ins, pitch, dur))
    rows: list[list[int]] = []
    for b in range(total):
        t = [0] * len(FIELDS)
        t[F["bar"]], t[F["progress"]] = 1 + min(b, MAX_BARS - 1), 1 + progress_class(b, total)
        positions = by_bar.get(b, {})
        onsets = sum(len(v) for v in positions.values())
        bar_row = list(t)
        bar_row[F["type"]], bar_row[F["beat"]] = METRICAL, BAR_LINE
        bar_row[F["density"]] = 1 + density_class(len(positions), beats_per_bar)
        bar_row[F["strength"]] = 1 + strength_class(onsets, len(positions))
        rows.append(bar_row)
        for p in sorted(positions):
            pos_row = list(t)
            pos_row[F["type"]], pos_row[F["beat"]] = METRICAL, 2 + p
            pos_row[F["strength"]] = 1 + min(STRENGTH_CLASSES - 1, len(positions[p]))
            rows.append(pos_row)
            for ins, pitch, dur in positions[p]:
                note_row = list(t)
                note_row[F["type"]] = NOTE
                note_row[F["pitch"]], note_row[F["duration"]], note_row[F["instrument"]] = 1 + pitch, dur, 1 + ins
                rows.append(note_row)
    end = [0] * len(FIELDS)
    end[F["type"]] = END
    rows.append(end)
    return np.asarray(rows, dtype=np.int64).reshape(-1, len(FIELDS))


def decode(tokens: np.ndarray, beats_per_bar: float = 4.0,
           velocity: int = DEFAULT_VELOCITY) -> dict[str, list[Note]]:
    """Notes per instrument class from tokens; stops at the first end token.

    Bars are counted by bar tokens (the ``bar`` field is only a time encoding, clipped
    for long pieces). Malformed sequences, as a model may sample, are read leniently:
    a note before any position token starts at the bar line, note fields of 0 are skipped.
    """
    spb = steps_per_bar(beats_per_bar)
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or tokens.shape[1] != len(FIELDS):
        raise InputError(f"tokens must have shape [T, {len(FIELDS)}], got {list(tokens.shape)}")
    out: dict[str, list[Note]] = {}
    bar, pos = -1, 0
    for row in tokens.tolist():
        kind = row[F["type"]]
        if kind == END:
            break
        if kind == METRICAL:
            beat = row[F["beat"]]
            if beat == BAR_LINE:
                bar, pos = bar + 1, 0
            elif 2 <= beat < 2 + spb:
                pos = beat - 2
        elif kind == NOTE:
            pitch, dur, ins = row[F["pitch"]] - 1, row[F["duration"]], row[F["instrument"]] - 1
            if pitch < 0 or dur <= 0 or not 0 <= ins < len(INSTRUMENTS):
                continue
            i = INSTRUMENTS[ins]
            start = max(bar, 0) * spb + pos
            out.setdefault(i.name, []).append(
                Note(pitch, velocity, start / STEPS_PER_BEAT, dur / STEPS_PER_BEAT, i.channel))
    for part in out.values():
        part.sort(key=lambda n: (n.start, n.pitch, n.duration))
    return out


def bar_controls(tokens: np.ndarray) -> np.ndarray:
    """(density class, strength class) int64 [bars, 2] read from the bar tokens."""
    tokens = np.asarray(tokens)
    bars = tokens[(tokens[:, F["type"]] == METRICAL) & (tokens[:, F["beat"]] == BAR_LINE)]
    return np.stack([bars[:, F["density"]] - 1, bars[:, F["strength"]] - 1], axis=1)

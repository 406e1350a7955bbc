"""From MIDI files and live playing to token windows (2 or 16 bars), and from tokens back to phrases.

Everything the CLI and the generator share about *what a melody is*: picking
the melody line (bridge.midifile.melody_notes), cutting it into bar-aligned
2-bar windows, checking there is enough to learn from, and turning tokens into
:class:`~bridge.events.Phrase` s on a channel, with a light metric accent.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from bridge.api import InputError, InputNote, Note, Phrase, melody_notes, read_tracks

from . import melody

MIN_WINDOWS = 2  # 2-bar windows with >= 2 notes each that learning needs
MIN_NOTES = 2
VELOCITY_DOWNBEAT, VELOCITY_BEAT, VELOCITY_OFFBEAT = 100, 90, 80


def melody_windows(notes: Sequence[Note], hop: int = melody.STEPS_PER_BAR, steps: int = melody.STEPS) -> np.ndarray:
    """Bar-aligned windows [N, steps] (2 bars = 32 by default) of a monophonic melody (beats from a bar line)
    with >= 2 notes each, one starting on every bar (``hop`` 16ths)."""
    if not notes:
        return np.zeros((0, steps), dtype=np.int64)
    end = max(n.end for n in notes)
    bars = max(steps // melody.STEPS_PER_BAR, math.ceil(end / melody.BEATS_PER_BAR - 1e-9))
    tokens = melody.tokens_from_notes(notes, steps=bars * melody.STEPS_PER_BAR)
    found = melody.windows(tokens, hop=hop, min_notes=MIN_NOTES, steps=steps)
    return np.stack(found) if found else np.zeros((0, steps), dtype=np.int64)


def bars_of(steps: int) -> int:
    return steps // melody.STEPS_PER_BAR


def window_word(bars: int) -> str:
    """ "two-bar" / "16-bar": how messages name a window."""
    return "two-bar" if bars == 2 else f"{bars}-bar"


def file_melody(path: str | Path) -> list[Note]:
    """The melody line of a MIDI file (InputError when unreadable, empty, drums only or polyphonic)."""
    path = Path(path)
    return melody_notes(read_tracks(path), source=path.name)


def file_windows(path: str | Path, steps: int = melody.STEPS) -> np.ndarray:
    return melody_windows(file_melody(path), steps=steps)


def first_window(path: str | Path, steps: int = melody.STEPS) -> np.ndarray:
    """The first window (2 bars, or ``steps`` 16ths) of a file's melody that has >= 2 notes: an interpolation
    end point."""
    found = file_windows(path, steps)
    if not len(found):
        bars = bars_of(steps)
        raise InputError(f"{Path(path).name} has no usable melody: no {bars} bars with at least {MIN_NOTES} notes "
                         f"(this model needs a {bars}-bar melody of 4/4 with at least {MIN_NOTES} notes)")
    return found[0]


def input_notes(played: Sequence[InputNote], beats_per_bar: int = 4) -> list[Note]:
    """Notes played into the MIDI input (host beats) -> notes in beats from the bar line before the first one.

    Notes still held end at the latest moment seen in the history.
    """
    if not played:
        return []
    latest = max(max(p.start, p.end or p.start) for p in played)
    origin = math.floor(min(p.start for p in played) / beats_per_bar) * beats_per_bar
    out = []
    for p in played:
        end = p.end if p.end is not None else max(latest, p.start + 0.25)
        out.append(Note(p.pitch, max(1, p.velocity), p.start - origin, max(end - p.start, 1e-3), p.channel))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def json_notes(text: str, limit: int = 4096) -> list[Note]:
    """``[[pitch, start_beats, duration_beats, velocity], ...]`` (JSON, a clip's notes) -> notes from the bar line
    at beat 0; InputError in one line for anything else."""
    import json

    try:
        rows = json.loads(text)
    except ValueError as e:
        raise InputError(f"notes must be JSON [[pitch, start, duration, velocity], ...]: {e}") from None
    if not isinstance(rows, list) or len(rows) > limit:
        raise InputError(f"notes must be a JSON list of at most {limit} [pitch, start, duration, velocity]")
    out = []
    for i, row in enumerate(rows):
        ok = (isinstance(row, list) and len(row) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             and math.isfinite(v) for v in row))
        if not ok or not (0 <= row[0] <= 127 and row[1] >= 0 and row[2] > 0 and 0 <= row[3] <= 127):
            raise InputError(f"note {i}: {str(row)[:60]} is not [pitch 0..127, start >= 0, duration > 0, "
                             "velocity 0..127]")
        out.append(Note(int(row[0]), max(1, int(row[3])), float(row[1]), float(row[2])))
    return sorted(out, key=lambda n: (n.start, n.pitch))


def need_enough(windows: np.ndarray, source: str, bars: float | None = None, notes: int | None = None,
                least: int = MIN_WINDOWS) -> np.ndarray:
    """InputError unless ``windows`` holds at least ``least`` learnable windows; says what was found."""
    if len(windows) >= least:
        return windows
    size = bars_of(windows.shape[1]) if windows.ndim == 2 else melody.BARS
    seen = []
    if bars is not None:
        seen.append(f"{bars:g} bars")
    if notes is not None:
        seen.append(f"{notes} notes")
    what = f" ({', '.join(seen)})" if seen else ""
    raise InputError(f"too few bars to learn from in {source}{what}: found {len(windows)} {window_word(size)} window(s) "
                     f"with >= {MIN_NOTES} notes, MidiMe needs at least {least} "
                     f"({size + least - 1} or more bars of a melody)")


def accent(notes: list[Note], beats_per_bar: int = 4) -> list[Note]:
    """Downbeats a little louder than beats, beats than off-beats (MusicVAE melodies have no velocity)."""
    out = []
    for n in notes:
        pos = n.start % beats_per_bar
        vel = VELOCITY_DOWNBEAT if pos < 1e-6 else VELOCITY_BEAT if abs(pos - round(pos)) < 1e-6 \
            else VELOCITY_OFFBEAT
        out.append(Note(n.pitch, vel, n.start, n.duration, n.channel))
    return out


def tokens_phrase(tokens: np.ndarray, channel: int = 0, generator: str = "midime", **meta) -> Phrase:
    """One phrase of ``tokens`` (2 bars = 8 beats, or as long as the tokens) on ``channel`` (0..15)."""
    notes = accent(melody.notes_from_tokens(tokens, channel=channel))
    return Phrase.of(notes, len(tokens) / melody.STEPS_PER_BEAT, generator, tokens=[int(t) for t in tokens], **meta)


def notes_phrase(notes: Sequence[Note], length: float, generator: str = "midime", tokens=None, **meta) -> Phrase:
    """One phrase of ``notes`` (beats from its start, channels set), ``length`` beats, with a metric accent;
    ``tokens`` (meta) are what the model decoded, before any key or register was applied."""
    if tokens is not None:
        meta["tokens"] = [int(t) for t in tokens]
    return Phrase.of(accent(list(notes)), length, generator, **meta)


def sequence(phrases: Sequence[Sequence[Note]], length: float = melody.PHRASE_BEATS) -> list[Note]:
    """Lay 2-bar note lists end to end (phrase i starts at i * length beats)."""
    return [n.shifted(i * length) for i, notes in enumerate(phrases) for n in notes]

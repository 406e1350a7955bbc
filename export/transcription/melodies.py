"""Melodies unlike the folk tunes the transcriber first learned on (issue 14: generalisation).

:func:`melody` draws one monophonic line from a seed: a scale (church modes,
harmonic minor, whole-tone, blues, chromatic), a tempo of 60-200 BPM, a range of
one to three octaves, and a mix of figures chosen per phrase: stepwise walks,
leaps (up to a tenth), chromatic runs, fast 16th-note runs, repeated notes,
long held notes and rests; velocities follow phrase-level curves (crescendo,
diminuendo, accents) around a seeded dynamic level. The same seed always gives
the same melody. Benches draw from seeds >= :data:`BENCH_SEEDS`; training sets
draw below it, so a bench melody is never a training melody.
"""
from __future__ import annotations

import numpy as np

BENCH_SEEDS = 1_000_000_000
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "lydian": (0, 2, 4, 6, 7, 9, 11), "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11), "whole-tone": (0, 2, 4, 6, 8, 10), "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}
FIGURES = ("walk", "leaps", "chromatic run", "fast run", "repeated", "held")
FIGURE_P = (0.3, 0.15, 0.1, 0.15, 0.15, 0.15)
#: drills (:func:`drill`): what the flute got wrong off the folk tunes, more often: fast repeated notes with
#: short gaps and long held notes, high in the register
DRILL_P = (0.1, 0.1, 0.05, 0.15, 0.35, 0.25)


def _scale_pitches(root: int, scale: tuple[int, ...], low: int, high: int) -> np.ndarray:
    return np.array([p for p in range(low, high + 1) if (p - root) % 12 in scale])


def melody(seed: int, seconds: float = 15.0, low: int = 55, high: int = 91, drill: bool = False) -> dict:
    """{"notes": [(start s, end s, pitch, velocity)], "bpm", "scale", "figures"} of one seeded melody.

    Pitches stay within ``low``..``high`` (give an instrument's register: a player keeps to it).
    ``drill``: figures drawn with :data:`DRILL_P`, the line in the top of the register two times in three,
    repeated notes detached by as little as 2% of their length (the default draws are unchanged)."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(60, 200))
    beat = 60.0 / bpm
    name = str(rng.choice(list(SCALES)))
    root = int(rng.integers(0, 12))
    span = int(rng.choice([12, 19, 24, 36]))
    lo = int(rng.integers(low, max(low + 1, high - span + 1)))
    if drill and rng.random() < 2 / 3:
        span = int(rng.choice([7, 12]))
        lo = max(low, high - span - int(rng.integers(0, 4)))
    pitches = _scale_pitches(root, SCALES[name], lo, min(high, lo + span))
    if len(pitches) < 3:
        pitches = np.arange(lo, min(high, lo + span) + 1)
    level = float(rng.uniform(45, 110))
    i = int(rng.integers(0, len(pitches)))
    t = 0.3
    notes, used = [], []
    while t < seconds:
        fig = str(rng.choice(FIGURES, p=DRILL_P if drill else FIGURE_P))
        used.append(fig)
        count = int(rng.integers(3, 9))
        shape = str(rng.choice(["flat", "cresc", "dim", "accents"]))
        for k in range(count):
            if fig == "walk":
                i = int(np.clip(i + rng.choice([-2, -1, 1, 2]), 0, len(pitches) - 1))
                pitch, dur = int(pitches[i]), float(rng.choice([0.5, 1.0]))
            elif fig == "leaps":
                i = int(np.clip(i + rng.choice([-6, -5, -4, -3, 3, 4, 5, 6]), 0, len(pitches) - 1))
                pitch, dur = int(pitches[i]), float(rng.choice([0.5, 1.0, 1.5]))
            elif fig == "chromatic run":
                step = 1 if k == 0 or rng.random() < 0.9 else -1
                pitch = int(np.clip((notes[-1][2] if notes else int(pitches[i])) + step * (1 if k else 0), low, high))
                dur = 0.5
            elif fig == "fast run":
                i = int(np.clip(i + rng.choice([-1, 1]) * (1 if rng.random() < 0.8 else 2), 0, len(pitches) - 1))
                pitch, dur = int(pitches[i]), 0.25
            elif fig == "repeated":
                pitch, dur = int(pitches[i]), float(rng.choice([0.25, 0.5]))
            else:
                pitch, dur = int(pitches[i]), float(rng.choice([2.0, 3.0]))
            x = k / max(count - 1, 1)
            v = level + {"flat": 0.0, "cresc": 30 * (x - 0.5), "dim": -30 * (x - 0.5),
                         "accents": 20.0 if k % 2 == 0 else -10.0}[shape] + rng.normal(0, 6)
            start = t
            gap = float(rng.choice([0.95, 0.8, 0.6])) if fig != "held" else 0.97
            if drill and fig == "repeated":
                gap = float(rng.uniform(0.75, 0.98))
            notes.append((round(start, 4), round(start + dur * beat * gap, 4), pitch, int(np.clip(v, 20, 127))))
            t += dur * beat
            if t >= seconds:
                break
        if rng.random() < 0.25:
            t += float(rng.choice([0.5, 1.0])) * beat   # a rest between phrases
    return {"notes": notes, "bpm": round(bpm, 1), "scale": f"{name} on {root}", "figures": sorted(set(used))}

"""How close one set of 2-bar melodies is to another: the personalisation yardstick.

The issue's measure: pitch-class histogram + note density + interval
histogram, pooled over each set. ``distance(samples, reference)`` is
L1(pitch classes) + L1(intervals, -12..12 clipped) + |density difference| /
reference density, so 0 means "same statistics" and values near 2-3 mean
"unrelated".
"""
from __future__ import annotations

import numpy as np

from . import melody

INTERVAL_RANGE = 12


def onset_pitches(tokens: np.ndarray) -> list[int]:
    return [melody.MIN_PITCH + int(t) - 2 for t in tokens if t >= 2]


def features(windows: np.ndarray) -> dict[str, np.ndarray | float]:
    """Pooled pitch-class histogram, interval histogram and mean onsets per 2-bar window."""
    pc, iv, notes = np.zeros(12), np.zeros(2 * INTERVAL_RANGE + 1), 0
    for w in np.asarray(windows).reshape(-1, melody.STEPS):
        ps = onset_pitches(w)
        notes += len(ps)
        for p in ps:
            pc[p % 12] += 1
        for a, b in zip(ps, ps[1:]):
            iv[int(np.clip(b - a, -INTERVAL_RANGE, INTERVAL_RANGE)) + INTERVAL_RANGE] += 1
    n = max(len(np.asarray(windows).reshape(-1, melody.STEPS)), 1)
    return {"pc": pc / max(pc.sum(), 1), "iv": iv / max(iv.sum(), 1), "density": notes / n}


def distance(samples: np.ndarray, reference: np.ndarray) -> float:
    fa, fb = features(samples), features(reference)
    return float(np.abs(fa["pc"] - fb["pc"]).sum() + np.abs(fa["iv"] - fb["iv"]).sum()
                 + abs(fa["density"] - fb["density"]) / max(fb["density"], 1.0))

"""The tagger's vocabulary and the rules that turn a clip's MIDI statistics into labels.

Shared by the data builder, the trainer, the exporter (manifest) and the bench.
Thresholds on the statistics live here, in one place; the clips store the raw
statistics (:data:`STATS`) so labels can be recomputed without re-rendering.
"""
from __future__ import annotations

import numpy as np

TAG_GROUPS: dict[str, list[str]] = {
    "instrument": ["piano", "strings", "brass", "woodwind", "guitar", "bass", "organ", "synth_pad", "drums"],
    "texture": ["solo", "ensemble"],
    "tempo": ["slow", "medium", "fast"],
    "density": ["sparse", "dense"],
    "register": ["low", "high"],
    "mode": ["major", "minor"],
    "dynamics": ["soft", "loud"],
    "articulation": ["legato", "staccato"],
}
TAGS: list[str] = [t for group in TAG_GROUPS.values() for t in group]
FAMILIES = TAG_GROUPS["instrument"][:-1]  # pitched families (drums is a separate part on channel 10)

#: per-clip statistics stored next to the audio, in this order
STATS = ["bpm", "onset_rate", "mean_pitch", "base_velocity", "staccato", "major_corr", "minor_corr",
         "n_instruments", "has_drums"]

SLOW_BPM, FAST_BPM = 80.0, 125.0          # quarter-note BPM: slow < 80 <= medium < 125 <= fast
SPARSE_RATE, DENSE_RATE = 2.5, 6.0        # pitched onsets per second: sparse < 2.5, dense > 6, else neither
LOW_PITCH, HIGH_PITCH = 56.0, 71.0        # duration-weighted mean MIDI pitch: low < G#3, high > B4, else neither
SOFT_LOUD_VELOCITY = 75.0                 # the clip's base velocity (soft clips 28..60, loud 88..120)

# Krumhansl-Kessler key profiles (C major / C minor)
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def key_correlations(pitches: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(best major, best minor) correlation of a weighted pitch-class histogram with the 24 key profiles."""
    hist = np.bincount(np.asarray(pitches, int) % 12, weights=weights, minlength=12).astype(float)
    if hist.sum() <= 0 or hist.std() == 0:
        return 0.0, 0.0
    best = []
    for prof in (_MAJOR, _MINOR):
        rolled = np.stack([np.roll(prof, k) for k in range(12)])
        best.append(float(max(np.corrcoef(hist, r)[0, 1] for r in rolled)))
    return best[0], best[1]


def labels_from_stats(stats: np.ndarray, families: np.ndarray) -> np.ndarray:
    """uint8 [n, len(TAGS)] labels from float stats [n, len(STATS)] and pitched-family presence [n, 8]."""
    s = {name: stats[:, i] for i, name in enumerate(STATS)}
    n = len(stats)
    out = np.zeros((n, len(TAGS)), np.uint8)
    col = {t: i for i, t in enumerate(TAGS)}
    out[:, :len(FAMILIES)] = families > 0
    out[:, col["drums"]] = s["has_drums"] > 0
    solo = (s["n_instruments"] == 1) & (s["has_drums"] == 0)
    out[:, col["solo"]] = solo
    out[:, col["ensemble"]] = ~solo
    out[:, col["slow"]] = s["bpm"] < SLOW_BPM
    out[:, col["fast"]] = s["bpm"] >= FAST_BPM
    out[:, col["medium"]] = (s["bpm"] >= SLOW_BPM) & (s["bpm"] < FAST_BPM)
    out[:, col["sparse"]] = s["onset_rate"] < SPARSE_RATE
    out[:, col["dense"]] = s["onset_rate"] > DENSE_RATE
    out[:, col["low"]] = s["mean_pitch"] < LOW_PITCH
    out[:, col["high"]] = s["mean_pitch"] > HIGH_PITCH
    major = s["major_corr"] >= s["minor_corr"]
    out[:, col["major"]] = major
    out[:, col["minor"]] = ~major
    out[:, col["loud"]] = s["base_velocity"] >= SOFT_LOUD_VELOCITY
    out[:, col["soft"]] = s["base_velocity"] < SOFT_LOUD_VELOCITY
    out[:, col["staccato"]] = s["staccato"] > 0
    out[:, col["legato"]] = s["staccato"] == 0
    return out

"""The tempo of a transcription, estimated from its note onsets, so the written .mid lines up with the song.

A beat period ``T`` fits onsets that fall on its grid and on its halves and
quarters: :func:`estimate_tempo` scores every tempo between ``low`` and ``high``
BPM by the strength of the onsets' periodicity at 1, 2 and 4 times the beat
frequency (the magnitude of ``sum exp(2 pi i h t / T)``, normalised by the
number of onsets), times a broad prior around :data:`PRIOR_BPM` that settles
the octave (80 vs 160) the way a listener would. Too few onsets give
:data:`FALLBACK_BPM`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

FALLBACK_BPM = 120.0
PRIOR_BPM = 110.0          # where the prior is centred (log-normal, one octave ~ 2.5 sigma)
PRIOR_OCTAVES = 0.8        # the prior's width in octaves (sigma)
HARMONICS = ((1, 1.0), (2, 0.6), (4, 0.3))   # (multiple of the beat frequency, weight)
MIN_ONSETS = 6


def tempo_scores(onsets_s: Sequence[float], bpms: np.ndarray) -> np.ndarray:
    """Periodicity score of each candidate tempo (BPM) for onsets in seconds (no prior)."""
    t = np.asarray(onsets_s, dtype=np.float64)[None, :]
    freq = (np.asarray(bpms, dtype=np.float64) / 60.0)[:, None]           # beats per second
    score = np.zeros(len(bpms))
    for h, w in HARMONICS:
        score += w * np.abs(np.exp(2j * np.pi * h * freq * t).mean(axis=1))
    return score


def estimate_tempo(onsets_s: Sequence[float], low: float = 60.0, high: float = 180.0,
                   step: float = 0.25) -> float:
    """The tempo (BPM, ``low``..``high``) whose beat grid fits the onsets best; :data:`FALLBACK_BPM`
    when there are fewer than :data:`MIN_ONSETS` onsets."""
    onsets = sorted(float(x) for x in onsets_s)
    if len(onsets) < MIN_ONSETS or onsets[-1] - onsets[0] <= 0:
        return FALLBACK_BPM
    bpms = np.arange(low, high + step / 2, step)
    prior = np.exp(-0.5 * (np.log2(bpms / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    score = tempo_scores(onsets, bpms) * (0.5 + 0.5 * prior)
    return float(round(bpms[int(np.argmax(score))], 2))

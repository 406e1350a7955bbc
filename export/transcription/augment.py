"""Augmentations the solo (train.FrameSet) and duet (duet.MixSet) training sets share: numpy only, no torch."""
from __future__ import annotations

import numpy as np

from plugins.transcription import features


def random_eq(rng: np.random.Generator, count: int, eq_db: float, width: int = features.N_BINS) -> np.ndarray:
    """``count`` random smooth EQ curves in dB over the log-frequency bins [count, width], within +-``eq_db``:
    a tilt and three cosine bumps across the range (another instrument maker's, room's or microphone's
    colour; an unseen soundfont differs from the training ones mostly in its spectral envelope)."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    curve = rng.uniform(-1, 1, (count, 1)) * (2 * x - 1)
    for k in (1, 2, 3):
        curve = curve + rng.uniform(-1, 1, (count, 1)) / k * np.cos(np.pi * k * x + rng.uniform(0, 2 * np.pi, (count, 1)))
    return (np.clip(curve, -1.0, 1.0) * eq_db).astype(np.float32)

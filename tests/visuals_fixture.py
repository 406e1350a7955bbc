"""Audio for the visuals tests: click tracks (known onsets) and short FluidSynth renders."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def clicks(seconds: float, rate: int, every_s: float = 0.5, first_s: float = 0.25, amplitude: float = 0.8,
           tone_hz: float = 330.0) -> tuple[np.ndarray, list[float]]:
    """A quiet tone with a loud decaying noise burst every ``every_s``; (samples, click times s)."""
    rng = np.random.default_rng(0)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.05 * np.sin(2 * np.pi * tone_hz * t)
    times = list(np.arange(first_s, seconds - 0.05, every_s))
    burst = rng.standard_normal(int(0.04 * rate)) * np.exp(-np.arange(int(0.04 * rate)) / (0.008 * rate))
    for c in times:
        i = int(c * rate)
        j = min(n, i + len(burst))
        x[i:j] += amplitude * burst[:j - i]
    return np.clip(x, -1, 1).astype(np.float32), [float(c) for c in times]


def music_clip(path: Path, seconds: float = 6.0, seed: int = 3) -> Path:
    """A generated piece rendered with the fluidsynth CLI, or a click track when FluidSynth is missing."""
    if shutil.which("fluidsynth"):
        from visuals_music import render_piece, soundfont

        if soundfont():
            return render_piece(seed, path, seconds)
    import soundfile

    x, _ = clicks(seconds, 22050)
    soundfile.write(str(path), x, 22050)
    return path

"""Audio features per video frame: onset strength (the pulse), band energies and level.

One :class:`FrameAnalyser` serves both paths: the offline renderer calls it
on the window around each frame's time, the live generator on the newest
samples heard. For a frame it takes the ``N_FFT`` samples centred on the
frame's middle (offline) or ending now (live), and returns

- ``onset``: spectral flux, the summed positive change of log magnitude
  from the previous frame's spectrum (un-normalised; :func:`normalise_onsets`);
- ``bands``: low (< 250 Hz), mid (250-2000 Hz) and high (> 2 kHz) energies in dB;
- ``level``: RMS in dBFS. Below :data:`GATE_DBFS` the onset is 0: hiss is not a beat.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_FFT = 1024
BAND_EDGES_HZ = (0.0, 250.0, 2000.0, float("inf"))
GATE_DBFS = -55.0
LOG_GAIN = 100.0             # log(1 + 100 |X|): compresses like a loudness curve
FLOOR_DB = -100.0


@dataclass
class FrameFeatures:
    """Per-frame features of a whole recording: onset [n], bands [n, 3] dB, level [n] dBFS."""

    onset: np.ndarray
    bands: np.ndarray
    level: np.ndarray

    def __len__(self) -> int:
        return len(self.onset)


class FrameAnalyser:
    """Spectral flux and band energies, one frame at a time (keeps the previous spectrum)."""

    def __init__(self, rate: int) -> None:
        self.rate = int(rate)
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
        freqs = np.fft.rfftfreq(N_FFT, 1.0 / self.rate)
        self.bands = [(freqs >= lo) & (freqs < hi) for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:])]
        self.prev: np.ndarray | None = None

    def reset(self) -> None:
        self.prev = None

    def frame(self, samples: np.ndarray) -> tuple[float, np.ndarray, float]:
        """(onset, bands dB [3], level dBFS) of the last ``N_FFT`` samples (zero-padded in front)."""
        x = np.zeros(N_FFT, np.float32)
        tail = np.asarray(samples, np.float32).reshape(-1)[-N_FFT:]
        if len(tail):
            x[-len(tail):] = tail
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        level = 20 * np.log10(rms) if rms > 1e-10 else FLOOR_DB
        mag = np.abs(np.fft.rfft(x * self.window)) / (N_FFT / 4)
        logmag = np.log1p(LOG_GAIN * mag)
        onset = 0.0 if self.prev is None else float(np.maximum(logmag - self.prev, 0.0).sum())
        self.prev = logmag
        power = mag ** 2
        bands = np.array([10 * np.log10(power[b].sum() + 1e-10) for b in self.bands], np.float32)
        if level < GATE_DBFS:
            onset = 0.0
        return onset, bands, float(level)


def frame_features(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> FrameFeatures:
    """Features of frame i from the ``N_FFT`` samples centred on the middle of its display time."""
    samples = np.asarray(samples, np.float32).reshape(-1)
    analyser = FrameAnalyser(rate)
    padded = np.concatenate([np.zeros(N_FFT, np.float32), samples, np.zeros(N_FFT, np.float32)])
    onset = np.zeros(n_frames, np.float32)
    bands = np.zeros((n_frames, 3), np.float32)
    level = np.zeros(n_frames, np.float32)
    for i in range(n_frames):
        centre = int(round((i + 0.5) / fps * rate)) + N_FFT     # index in padded
        end = centre + N_FFT // 2
        onset[i], bands[i], level[i] = analyser.frame(padded[max(0, end - N_FFT):end])
    return FrameFeatures(onset, bands, level)


def normalise_onsets(onset: np.ndarray, percentile: float = 98.0, floor: float = 1.0) -> np.ndarray:
    """Onsets scaled so a strong one is about 1 (the recording's ``percentile``), clipped to 0..1.5.

    ``floor`` keeps a near-silent recording from blowing its faint flux up to full pulses.
    """
    onset = np.asarray(onset, np.float32)
    if len(onset) == 0:
        return onset
    scale = max(float(np.percentile(onset, percentile)), floor)
    return np.clip(onset / scale, 0.0, 1.5).astype(np.float32)

"""Measures for the visuals benchmark, independent of the plugin's own feature code.

- :func:`onset_strength`: the benchmark's own onset envelope (log-power band flux
  on a 2048-point FFT of the original audio, 40 log-spaced bands), one value per
  video frame, centred on the frame's display interval;
- :func:`frame_change`: mean absolute difference between consecutive frames
  (grey, 128 x 128), so entry i is the change from frame i-1 to frame i;
- :func:`sync`: Pearson correlation of the two (lag 0), its best lag in -5..5
  frames, and the control: the same with the audio shifted by ``shift_s``;
- :func:`video_feature`: what a video looks like as one vector (mean RGB
  histogram over frames, 3 x 16 bins, plus mean frame-change and edge energy);
- :func:`spearman`: rank correlation (no scipy needed).
"""
from __future__ import annotations

import numpy as np

N_FFT = 2048
BANDS = 40


def _band_matrix(rate: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / rate)
    edges = np.geomspace(40.0, min(11000.0, rate / 2 - 1), BANDS + 1)
    m = np.zeros((len(freqs), BANDS), np.float32)
    for b in range(BANDS):
        m[(freqs >= edges[b]) & (freqs < edges[b + 1]), b] = 1.0
    return m


def onset_strength(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> np.ndarray:
    """Band flux per video frame: sum of positive log-power increases from the previous frame's spectrum."""
    x = np.concatenate([np.zeros(N_FFT), np.asarray(samples, np.float64), np.zeros(N_FFT)])
    win = np.hanning(N_FFT)
    bands = _band_matrix(rate)
    prev, out = None, np.zeros(n_frames)
    for i in range(n_frames):
        end = int(round((i + 0.5) / fps * rate)) + N_FFT + N_FFT // 2
        seg = x[max(0, end - N_FFT):end]
        seg = np.pad(seg, (N_FFT - len(seg), 0))
        power = (np.abs(np.fft.rfft(seg * win)) ** 2) @ bands
        logp = np.log10(power + 1e-6)
        out[i] = 0.0 if prev is None else np.maximum(logp - prev, 0).sum()
        prev = logp
    return out


def grey_small(frame: np.ndarray, side: int = 128) -> np.ndarray:
    f = np.asarray(frame, np.float32).mean(axis=2)
    k = max(1, f.shape[0] // side)
    h = (f.shape[0] // k) * k
    return f[:h, :h].reshape(h // k, k, h // k, k).mean(axis=(1, 3))


def frame_change(greys: np.ndarray) -> np.ndarray:
    """[n] change into each frame (entry 0 = 0)."""
    d = np.abs(np.diff(np.asarray(greys, np.float32), axis=0)).mean(axis=(1, 2))
    return np.concatenate([[0.0], d])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def sync(onset: np.ndarray, change: np.ndarray, fps: float, shift_s: float = 5.0) -> dict:
    """Lag-0 correlation (frames 1..), best lag in -5..5 frames, and the shifted-audio control."""
    onset, change = np.asarray(onset)[1:], np.asarray(change)[1:]
    lags = {lag: _corr(onset[max(0, -lag):len(onset) - max(0, lag)], change[max(0, lag):len(change) - max(0, -lag)])
            for lag in range(-5, 6)}
    s = int(round(shift_s * fps))
    control = _corr(onset[:-s], change[s:]) if len(onset) > s + 10 else 0.0
    return {"r": lags[0], "best_lag_frames": max(lags, key=lags.get), "control_shifted": control,
            "shift_s": shift_s}


def video_feature(frames_rgb: list[np.ndarray], greys: np.ndarray) -> np.ndarray:
    """Mean RGB histogram (3 x 16 bins) + mean change + mean edge energy (scaled to similar ranges)."""
    hist = np.zeros(48)
    edges = []
    for f in frames_rgb:
        for c in range(3):
            h, _ = np.histogram(f[:, :, c], bins=16, range=(0, 256))
            hist[16 * c:16 * (c + 1)] += h / h.sum()
    for g in greys:
        edges.append(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
    hist /= max(1, len(frames_rgb))
    return np.concatenate([hist, [frame_change(greys).mean() / 50.0, np.mean(edges) / 50.0]])


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):           # ties share their mean rank
        idx = x == v
        r[idx] = r[idx].mean()
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return _corr(_ranks(np.asarray(a, float)), _ranks(np.asarray(b, float)))

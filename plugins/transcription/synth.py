"""Notes -> audio: per-frame symbols -> the model's log-frequency spectrum -> STFT magnitude -> Griffin-Lim.

Also the sine baseline the benchmark compares the model against, and the
frame rasterisation of notes shared by both.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from . import features
from .audio import SAMPLE_RATE

GRIFFIN_LIM_ITERATIONS = 32


def note_frames(notes: Sequence[tuple[float, float, int, int]], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame MIDI pitch (-1 silence) and velocity of (start s, end s, pitch, velocity) notes; a later
    note takes over from a sounding one (monophonic)."""
    pitch = np.full(frames, -1, np.int64)
    velocity = np.zeros(frames, np.int64)
    for start, end, p, v in sorted(notes):
        a, b = int(round(start * features.FRAME_RATE)), max(int(round(end * features.FRAME_RATE)), 0)
        pitch[a:b], velocity[a:b] = int(p), int(v)
    return pitch, velocity


@lru_cache(maxsize=1)
def _inverse_filterbank() -> np.ndarray:
    """[N_FFT//2+1, N_BINS]: each FFT bin as the weighted mean of the log-frequency bins that cover it."""
    fb = features.filterbank()
    cover = fb.sum(axis=0)
    return (fb / np.maximum(cover, 1e-12)[None, :]).T * (cover > 0)[:, None]


def _stft(x: np.ndarray) -> np.ndarray:
    pad = features.N_FFT // 2
    y = np.pad(x, (pad, pad + features.HOP))
    count = features.n_frames(len(x))
    frames = np.lib.stride_tricks.as_strided(y, (count, features.N_FFT), (y.strides[0] * features.HOP, y.strides[0]),
                                             writeable=False)
    return np.fft.rfft(frames * features.window(), axis=1)


def _istft(spec: np.ndarray, length: int) -> np.ndarray:
    pad = features.N_FFT // 2
    win = features.window()
    frames = np.fft.irfft(spec, n=features.N_FFT, axis=1) * win
    total = (len(spec) - 1) * features.HOP + features.N_FFT
    out = np.zeros(total, np.float64)
    norm = np.zeros(total, np.float64)
    for i, frame in enumerate(frames):
        s = i * features.HOP
        out[s:s + features.N_FFT] += frame
        norm[s:s + features.N_FFT] += win ** 2
    out /= np.maximum(norm, 1e-8)
    return out[pad:pad + length].astype(np.float32)


def griffin_lim(log_spec: np.ndarray, length: int, iterations: int = GRIFFIN_LIM_ITERATIONS, seed: int = 0) -> np.ndarray:
    """Audio whose log-frequency spectrum approximates ``log_spec`` [T, N_BINS]."""
    mag = np.exp(log_spec.astype(np.float64))
    mag[log_spec <= np.log(features.FLOOR) + 1e-3] = 0.0
    target = mag @ _inverse_filterbank().T / (2.0 / features.window().sum())
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(target.shape))
    x = _istft(target * phase, length)
    for _ in range(iterations):
        spec = _stft(x)[: len(target)]
        x = _istft(target * np.exp(1j * np.angle(spec)), length)
    return x


def sine_baseline(notes: Sequence[tuple[float, float, int, int]], length: int) -> np.ndarray:
    """The simple baseline: one sine per note at its pitch, amplitude from velocity, 10 ms ramps."""
    out = np.zeros(length, np.float64)
    ramp = int(0.01 * SAMPLE_RATE)
    for start, end, p, v in notes:
        a, b = int(start * SAMPLE_RATE), min(length, int(end * SAMPLE_RATE))
        if b <= a:
            continue
        t = np.arange(b - a) / SAMPLE_RATE
        env = np.minimum(1.0, np.minimum(np.arange(b - a), np.arange(b - a)[::-1]) / max(ramp, 1))
        out[a:b] += 0.3 * (v / 127.0) * env * np.sin(2 * np.pi * features.midi_to_hz(p) * t)
    return out.astype(np.float32)


def spectral_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of log-frequency log spectra (nats) over frames where either sounds."""
    sa, sb = features.log_spectrum(a), features.log_spectrum(b)
    n = min(len(sa), len(sb))
    sa, sb = sa[:n], sb[:n]
    floor = np.log(features.FLOOR)
    loud = (sa.max(axis=1) > floor + 3) | (sb.max(axis=1) > floor + 3)
    if not loud.any():
        return 0.0
    return float(np.abs(sa[loud] - sb[loud]).mean())


def morph_notes(model, notes_a, notes_b, instrument_a: str, instrument_b: str,
                tail: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Audio that moves in latent space from ``notes_a`` to ``notes_b`` (seed 002's morph).

    Both label sequences are encoded frame by frame (symbol encoder, means); frame t decodes
    ``(1 - a) z_a(t) + a z_b(t)`` with ``a`` rising linearly from 0 at the start to 1 at the end, so
    the piece begins as A (its notes, instrument, dynamics) and ends as B. Frames where both are
    silent stay silent. Returns (audio, log spectrum [T, N_BINS], a [T])."""
    end = max([n[1] for n in notes_a] + [n[1] for n in notes_b] + [0.0])
    length = int((end + tail) * SAMPLE_RATE)
    frames = features.n_frames(length)
    pa, va = note_frames(notes_a, frames)
    pb, vb = note_frames(notes_b, frames)
    a = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    z = (1 - a) * model.latents_of(pa, va, instrument_a) + a * model.latents_of(pb, vb, instrument_b)
    spec = model.spectrum_of_latents(z)
    spec[(pa < 0) & (pb < 0)] = np.log(features.FLOOR)
    return griffin_lim(spec, length), spec, a[:, 0]


def orbit_notes(model, notes, instrument: str, radius: float, seconds: float = 4.0, seed: int = 0,
                tail: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notes with their sound orbiting in latent space (seed 002's latent trajectories).

    Frame t decodes ``z(t) + radius * s * (cos(w t) u + sin(w t) v)``: ``u``, ``v`` two orthonormal
    directions drawn from ``seed``, ``s`` the spread (std) of the latent over every symbol, one turn
    every ``seconds``. The notes stay; their colour circles around them and comes back. Returns
    (audio, log spectrum, the offset's angle per frame)."""
    if radius < 0 or seconds <= 0:
        raise ValueError("orbit needs radius >= 0 and seconds > 0")
    length = int((max((n[1] for n in notes), default=0.0) + tail) * SAMPLE_RATE)
    frames = features.n_frames(length)
    pitch, velocity = note_frames(notes, frames)
    z = model.latents_of(pitch, velocity, instrument)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((z.shape[1], 2)))
    spread = float(model.latents_of(np.arange(48, 96), np.full(48, 80), instrument).std())
    angle = 2 * np.pi * np.arange(frames) / (seconds * features.FRAME_RATE)
    z = z + radius * spread * (np.cos(angle)[:, None] * q[:, 0] + np.sin(angle)[:, None] * q[:, 1])
    spec = model.spectrum_of_latents(z.astype(np.float32))
    spec[pitch < 0] = np.log(features.FLOOR)
    return griffin_lim(spec, length), spec, angle


def spectrum_png(spec: np.ndarray, path, title: str = "", curve: np.ndarray | None = None,
                 curve_label: str = "") -> None:
    """A picture of a log spectrum [T, N_BINS] (time ->, pitch ^), with an optional 0..1 curve over it."""
    from PIL import Image, ImageDraw

    from bridge.api import pil_font

    floor = np.log(features.FLOOR)
    x = np.clip((spec - floor) / max(float(spec.max() - floor), 1e-6), 0, 1).T[::-1]   # low pitches at the bottom
    h, w = x.shape
    scale_x = max(1, 900 // max(w, 1))
    rgb = np.stack([x ** 0.7, x ** 1.6, 0.35 + 0.65 * x ** 3], axis=-1)   # dark blue -> orange -> white
    img = Image.fromarray((255 * rgb).astype(np.uint8)).resize((w * scale_x, h * 3), Image.NEAREST)
    top = 28
    canvas = Image.new("RGB", (img.width + 20, img.height + top + 10), (18, 18, 24))
    canvas.paste(img, (10, top))
    draw = ImageDraw.Draw(canvas)
    draw.text((10, 6), title, fill=(235, 235, 235), font=pil_font(14))
    if curve is not None and len(curve):
        pts = [(10 + i * img.width / len(curve), top + img.height * (1 - float(c))) for i, c in enumerate(curve)]
        draw.line(pts, fill=(120, 255, 140), width=2)
        if curve_label:
            draw.text((img.width - 140, 6), curve_label, fill=(120, 255, 140), font=pil_font(12))
    canvas.save(path)


def synthesize_notes(model, notes: Sequence[tuple[float, float, int, int]], instrument: str,
                     tail: float = 0.3) -> np.ndarray:
    """Audio (SAMPLE_RATE) of (start s, end s, pitch, velocity) notes through the model's ``synthesize`` graph."""
    length = int((max((n[1] for n in notes), default=0.0) + tail) * SAMPLE_RATE)
    frames = features.n_frames(length)
    pitch, velocity = note_frames(notes, frames)
    spec = model.spectrum_of(pitch, velocity, instrument)
    return griffin_lim(spec, length)

"""Audio in (any common format) and WAV out, mono mixdown and resampling for the transcriber.

Everything the transcriber sees is mono float32 at :data:`SAMPLE_RATE`. Files
are decoded by the host's one audio reader (:func:`bridge.api.decode_audio`:
WAV, FLAC, OGG, MP3 and what FFmpeg decodes) and resampled here (band-limited,
FFT based, exact for whole signals).
"""
from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz: what the features and the model expect


def read_audio(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples in -1..1 at ``rate`` Hz from WAV, FLAC, OGG, MP3...; InputError one-liners."""
    from bridge.api import decode_audio, input_file

    path = input_file(path, "audio file")
    samples, source_rate = decode_audio(path)
    if source_rate != rate:
        log.info("%s: resampling %d Hz -> %d Hz", path.name, source_rate, rate)
        samples = resample(samples, source_rate, rate)
    return np.asarray(samples, np.float32)


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """Band-limited resampling by zero-padding / truncating the spectrum (exact for whole signals)."""
    n = len(samples)
    if n == 0 or source_rate == rate:
        return samples.astype(np.float32)
    m = max(1, int(round(n * rate / source_rate)))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(len(spectrum), m // 2 + 1)
    out = np.zeros(m // 2 + 1, np.complex128)
    out[:keep] = spectrum[:keep]
    return (np.fft.irfft(out, m) * (m / n)).astype(np.float32)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """16-bit mono PCM, peak-limited to avoid wrap-around."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(samples, np.float64)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 1.0:
        x = x / peak
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path

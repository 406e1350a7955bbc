"""WAV in and out with the stdlib ``wave`` module, mono mixdown and resampling in numpy.

Everything the transcriber sees is mono float32 at :data:`SAMPLE_RATE`; other
rates are resampled here (band-limited, FFT based), so no audio library is
needed at run time.
"""
from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np

from bridge.api import InputError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz: what the features and the model expect


def read_wav(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples in -1..1 at ``rate`` Hz; InputError one-liners for anything unusable."""
    from bridge.api import input_file

    path = input_file(path, "audio file")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, source_rate, frames = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError, OSError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: not a readable WAV file ({reason}; PCM WAV 8/16/24/32-bit is supported)") from None
    if channels < 1 or source_rate < 1000:
        raise InputError(f"{path}: WAV header says {channels} channels at {source_rate} Hz")
    samples = _pcm_to_float(raw, width, path)
    usable = len(samples) // channels * channels
    samples = samples[:usable].reshape(-1, channels).mean(axis=1)
    if source_rate != rate:
        log.info("%s: resampling %d Hz -> %d Hz", path.name, source_rate, rate)
        samples = resample(samples, source_rate, rate)
    return samples.astype(np.float32)


def _pcm_to_float(raw: bytes, width: int, path: Path) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    if width == 4:
        return np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    raise InputError(f"{path}: {8 * width}-bit WAV samples are not supported")


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

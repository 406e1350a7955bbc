"""Audio files in any common format -> mono float32 at a model's rate: one reader for every plugin.

WAV, FLAC, OGG (and AIFF, ...) are decoded by soundfile (libsndfile in its
wheel); MP3, M4A/AAC, Opus and anything else by PyAV (FFmpeg in its wheel). A
file the first decoder refuses is tried with the other before giving up, so
a mislabelled extension still works. Resampling is soxr (high quality).
Plugins reach these through :mod:`bridge.api` (``read_audio``,
``decode_audio``, ``resample_audio``).

Every failure is an :class:`~bridge.errors.InputError` with one line naming the
file and the reason.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)

SOUNDFILE_FIRST = {".wav", ".wave", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".aifc", ".au", ".caf", ".w64"}


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:160] if text else type(e).__name__


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise ValueError("no audio stream")
        stream = streams[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        # one resampler to packed float mono: every decoded frame comes out in the same layout
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate or None)
        parts: list[np.ndarray] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
                rate = out.sample_rate
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1))
    if rate <= 0:
        raise ValueError("no sample rate")
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)).astype(np.float32), rate


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate Hz) of any audio file; InputError one-liners otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such audio file")
    readers = [_read_soundfile, _read_av]
    if path.suffix.lower() not in SOUNDFILE_FIRST:
        readers.reverse()
    reasons = []
    for read in readers:
        try:
            samples, rate = read(path)
        except ImportError as e:
            reasons.append(f"{e.name or 'decoder'} not installed")
            continue
        except Exception as e:  # noqa: BLE001 - libsndfile / FFmpeg raise their own error types
            reasons.append(_first_line(e))
            continue
        if not np.all(np.isfinite(samples)):
            raise InputError(f"{path}: the decoded audio has NaN or infinite samples")
        return samples, rate
    raise InputError(f"{path}: not a readable audio file ({reasons[0]}; WAV, FLAC, OGG, MP3 and what FFmpeg "
                     f"decodes are supported)")


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    """soxr's high-quality resampler (whole signals)."""
    if source_rate == rate or len(samples) == 0:
        return np.asarray(samples, np.float32)
    import soxr

    return soxr.resample(np.asarray(samples, np.float32), source_rate, rate, quality="HQ").astype(np.float32)


def read_audio(path: str | Path, rate: int) -> np.ndarray:
    """Mono float32 samples at ``rate`` Hz from any audio file."""
    samples, source_rate = decode(path)
    if source_rate != rate:
        log.info("%s: resampling %d Hz -> %d Hz", Path(path).name, source_rate, rate)
    return resample(samples, source_rate, rate)

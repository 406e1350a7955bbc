"""The audio features shared by the trainer and the runtime: a log-frequency (constant-Q like) spectrum.

A Hann-windowed STFT (2048 samples at 16 kHz, hop 256 = 16 ms) is mapped onto
:data:`N_BINS` bins spaced :data:`BINS_PER_SEMITONE` per semitone from MIDI
:data:`MIN_MIDI` to :data:`MAX_MIDI` by a fixed triangular filterbank (each
filter at least one FFT bin wide), then log-compressed. This is the
constant-Q spectrum of the paper computed as a filterbank on an STFT: numpy
only, ~1 ms per second of audio.

Frame ``i`` is centred on sample ``i * HOP``. The model looks at
:data:`CONTEXT_BEFORE` frames before and :data:`CONTEXT_AFTER` after the frame
it labels, so a live stream needs ``N_FFT / 2 + CONTEXT_AFTER * HOP`` samples
of look-ahead (64 ms).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .audio import SAMPLE_RATE

N_FFT = 2048
HOP = 256
FRAME_RATE = SAMPLE_RATE / HOP  # 62.5 frames per second
MIN_MIDI = 36
MAX_MIDI = 118
BINS_PER_SEMITONE = 2
N_BINS = (MAX_MIDI - MIN_MIDI) * BINS_PER_SEMITONE + 1  # 165
CONTEXT_BEFORE = 6
CONTEXT_AFTER = 0
CONTEXT = CONTEXT_BEFORE + 1 + CONTEXT_AFTER  # frames the model sees per labelled frame
FLOOR = 1e-4  # magnitude floor of the log (silence)
DB_TO_LOG = float(np.log(10) / 20)  # dB -> the natural-log units of the log spectrum
LOOKAHEAD_SECONDS = (N_FFT // 2 + CONTEXT_AFTER * HOP) / SAMPLE_RATE


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def bin_midi() -> np.ndarray:
    """The MIDI pitch at the centre of every log-frequency bin."""
    return MIN_MIDI + np.arange(N_BINS) / BINS_PER_SEMITONE


@lru_cache(maxsize=1)
def filterbank() -> np.ndarray:
    """[N_BINS, N_FFT//2+1] triangular filters on the log-frequency axis, rows summing to 1."""
    fft_hz = np.arange(N_FFT // 2 + 1) * SAMPLE_RATE / N_FFT
    fft_midi = np.full_like(fft_hz, -np.inf)
    fft_midi[1:] = 69.0 + 12.0 * np.log2(fft_hz[1:] / 440.0)
    centres = bin_midi()
    hz = midi_to_hz(centres)
    # half-width in semitones: one bin spacing, or one FFT bin where the STFT is coarser than that
    one_fft_bin = 12.0 * np.log2((hz + SAMPLE_RATE / N_FFT) / hz)
    width = np.maximum(1.0 / BINS_PER_SEMITONE, one_fft_bin)
    fb = np.maximum(0.0, 1.0 - np.abs(fft_midi[None, :] - centres[:, None]) / width[:, None])
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return fb.astype(np.float32)


@lru_cache(maxsize=1)
def window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def n_frames(n_samples: int) -> int:
    return 1 + n_samples // HOP


BLOCK_FRAMES = 256  # frames per FFT batch: keeps the work in cache (3-8x faster than one huge batch)


def stft_magnitude(samples: np.ndarray) -> np.ndarray:
    """[frames, N_FFT//2+1] magnitudes, frame i centred on sample i*HOP (zero-padded ends), scaled so a
    full-scale sine gives ~1."""
    pad = N_FFT // 2
    x = np.pad(np.asarray(samples, np.float32), (pad, pad + HOP))
    count = n_frames(len(samples))
    return np.concatenate([_magnitude(x, a, min(BLOCK_FRAMES, count - a)) for a in range(0, count, BLOCK_FRAMES)])


def _magnitude(padded: np.ndarray, first: int, count: int) -> np.ndarray:
    """Magnitudes of frames first..first+count-1 of ``padded`` (frame i = padded[i*HOP:][:N_FFT])."""
    x = np.ascontiguousarray(padded[first * HOP:first * HOP + (count - 1) * HOP + N_FFT], np.float32)
    frames = np.lib.stride_tricks.as_strided(x, (count, N_FFT), (x.strides[0] * HOP, x.strides[0]), writeable=False)
    spec = np.fft.rfft(frames * window(), axis=1)
    return np.abs(spec) * np.float32(2.0 / window().sum())


def _log_frames(padded: np.ndarray, count: int) -> np.ndarray:
    out = np.empty((count, N_BINS), np.float32)
    fb_t = filterbank().T
    for a in range(0, count, BLOCK_FRAMES):
        c = min(BLOCK_FRAMES, count - a)
        out[a:a + c] = _magnitude(padded, a, c) @ fb_t
    return np.log(np.maximum(out, FLOOR))


def log_spectrum(samples: np.ndarray) -> np.ndarray:
    """[frames, N_BINS] float32 log-magnitude log-frequency spectrum (natural log, floored)."""
    if len(samples) == 0:
        return np.zeros((0, N_BINS), np.float32)
    pad = N_FFT // 2
    return _log_frames(np.pad(np.asarray(samples, np.float32), (pad, pad + HOP)), n_frames(len(samples)))


def log_spectrum_frames(padded: np.ndarray, count: int) -> np.ndarray:
    """The live path: ``count`` frames of a buffer already padded like :func:`log_spectrum` pads its input."""
    if count <= 0:
        return np.zeros((0, N_BINS), np.float32)
    return _log_frames(padded, count)


def silence_frames(count: int, width: int = N_BINS) -> np.ndarray:
    return np.full((count, width), np.log(FLOOR), np.float32)


def tilted(spec: np.ndarray, db: float) -> np.ndarray:
    """A log spectrum [T, >= N_BINS] through a linear EQ tilt across its N_BINS log-frequency bins: ``-db`` dB
    at the lowest bin to ``+db`` at the highest (columns after them unchanged), floored like a spectrum."""
    if not db:
        return spec
    out = np.array(spec, np.float32, copy=True)
    out[:, :N_BINS] += (np.linspace(-1.0, 1.0, N_BINS) * db * DB_TO_LOG).astype(np.float32)
    return np.maximum(out, np.float32(np.log(FLOOR)))


# -- fast bands: the level envelope at a finer time resolution ------------------------------------------
# The 2048-sample window smears a 30 ms dip between two repeated notes into a dip of 2-3 dB, no deeper than
# a flute's tremolo. A model may also take FAST_BANDS log band levels from a 512-sample (32 ms) window
# centred on the same sample as each frame: the re-articulation shows as a dip of 10 dB and more.
FAST_FFT = 512
FAST_BANDS = 16
FAST_LOW_HZ, FAST_HIGH_HZ = 150.0, 7500.0


@lru_cache(maxsize=1)
def fast_filterbank() -> np.ndarray:
    """[FAST_BANDS, FAST_FFT//2+1] triangular bands log-spaced from FAST_LOW_HZ to FAST_HIGH_HZ, rows summing to 1."""
    fft_hz = np.arange(FAST_FFT // 2 + 1) * SAMPLE_RATE / FAST_FFT
    edges = np.geomspace(FAST_LOW_HZ, FAST_HIGH_HZ, FAST_BANDS + 2)
    fb = np.zeros((FAST_BANDS, len(fft_hz)), np.float64)
    step = SAMPLE_RATE / FAST_FFT
    for k in range(FAST_BANDS):
        lo, mid, hi = edges[k], edges[k + 1], edges[k + 2]
        lo, hi = min(lo, mid - step), max(hi, mid + step)     # every band at least one FFT bin each side
        up = (fft_hz - lo) / (mid - lo)
        down = (hi - fft_hz) / (hi - mid)
        fb[k] = np.maximum(0.0, np.minimum(up, down))
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)
    return fb.astype(np.float32)


@lru_cache(maxsize=1)
def fast_window() -> np.ndarray:
    return np.hanning(FAST_FFT + 1)[:-1].astype(np.float32)


def _fast_frames(padded: np.ndarray, count: int) -> np.ndarray:
    """Fast bands of frames 0..count-1 of a buffer padded like :func:`log_spectrum` pads (frame i's centre is
    padded[i*HOP + N_FFT//2])."""
    w = fast_window()
    off = N_FFT // 2 - FAST_FFT // 2
    x = np.ascontiguousarray(padded[off:off + (count - 1) * HOP + FAST_FFT], np.float32)
    frames = np.lib.stride_tricks.as_strided(x, (count, FAST_FFT), (x.strides[0] * HOP, x.strides[0]),
                                             writeable=False)
    mag = np.abs(np.fft.rfft(frames * w, axis=1)) * np.float32(2.0 / w.sum())
    return np.log(np.maximum(mag @ fast_filterbank().T, FLOOR)).astype(np.float32)


def fast_bands(samples: np.ndarray) -> np.ndarray:
    """[frames, FAST_BANDS] log band levels from a FAST_FFT window, the frames of :func:`log_spectrum`."""
    if len(samples) == 0:
        return np.zeros((0, FAST_BANDS), np.float32)
    pad = N_FFT // 2
    return _fast_frames(np.pad(np.asarray(samples, np.float32), (pad, pad + HOP)), n_frames(len(samples)))


def band_level_db(bands: np.ndarray) -> np.ndarray:
    """Fast bands [T, FAST_BANDS] (log magnitudes) -> the frames' broadband level in dB [T] (their power sum)."""
    b = np.asarray(bands, np.float64)
    return (10.0 / np.log(10.0) * np.log(np.exp(2.0 * b).sum(axis=-1))).astype(np.float32)


def fast_level(samples: np.ndarray) -> np.ndarray:
    """[frames] level in dB of a FAST_FFT (32 ms) window centred on each frame of :func:`log_spectrum`: a
    repeated note's 20-30 ms gap shows here as a dip of 10 dB and more, where the spectrum's window smears it."""
    return band_level_db(fast_bands(samples))


def fast_level_live(padded: np.ndarray, count: int) -> np.ndarray:
    """The live path of :func:`fast_level`: ``count`` frames of a buffer padded like it."""
    return band_level_db(_fast_frames(padded, count)) if count > 0 else np.zeros(0, np.float32)


LEVEL_RANGE_DB = 40.0   # loudness: frames within this of the loudest one count as sounding
LEVEL_PERCENTILE = 90.0
MAX_GAIN_DB = 30.0


def loudness_of_levels(level: np.ndarray) -> float | None:
    """Frame levels in dB (:func:`fast_level`, or :func:`band_level_db` of stored fast bands) -> the piece's
    loudness: the LEVEL_PERCENTILE-th percentile of its sounding frames (None for no frames). It moves with
    the gain dB for dB, and a model's manifest stores its training data's median (``reference_level_db``)."""
    level = np.asarray(level, np.float64)
    if len(level) == 0:
        return None
    return float(np.percentile(level[level > level.max() - LEVEL_RANGE_DB], LEVEL_PERCENTILE))


def level_gain(level: np.ndarray, reference_db: float | None) -> float:
    """Frame levels in dB -> the gain in dB that brings their loudness to ``reference_db`` (the training
    data's: the models learned absolute levels, and a recording's level is arbitrary), within +-MAX_GAIN_DB;
    0 for None or no frames."""
    loud = loudness_of_levels(level) if reference_db is not None else None
    return 0.0 if loud is None else float(np.clip(reference_db - loud, -MAX_GAIN_DB, MAX_GAIN_DB))


def normalization_gain(samples: np.ndarray, reference_db: float | None) -> float:
    """The gain in dB that brings the samples' loudness to ``reference_db`` (:func:`level_gain`)."""
    samples = np.asarray(samples, np.float32)
    return level_gain(fast_level(samples), reference_db) if reference_db is not None and len(samples) else 0.0


def scaled(samples: np.ndarray, gain_db: float) -> np.ndarray:
    """Samples times ``gain_db``, clipped to +-1 (unchanged at 0 dB)."""
    samples = np.asarray(samples, np.float32)
    return samples if not gain_db else np.clip(samples * np.float32(10.0 ** (gain_db / 20.0)), -1.0, 1.0)


def normalized(samples: np.ndarray, reference_db: float | None) -> np.ndarray:
    """Samples scaled to the loudness ``reference_db`` (:func:`normalization_gain`), clipped to +-1."""
    return scaled(samples, normalization_gain(samples, reference_db))


def velocity_at_gain(velocity: int, gain_db: float) -> int:
    """A velocity heard after the input was scaled by ``gain_db`` -> the velocity of the input as it was: a
    note's amplitude goes as the square of its velocity (the SoundFont/GM convention, 40 log10(v/127) dB)."""
    return int(np.clip(round(velocity * 10.0 ** (-gain_db / 40.0)), 1, 127))


def model_frames(samples: np.ndarray, fast: int = 0) -> np.ndarray:
    """What a model takes: the log spectrum [T, N_BINS], with the fast bands after it when ``fast``
    (a model's manifest ``features.fast_bands``) -> [T, N_BINS + FAST_BANDS]."""
    spec = log_spectrum(samples)
    if not fast or len(spec) == 0:
        return spec if not fast else np.zeros((0, N_BINS + fast), np.float32)
    return np.concatenate([spec, fast_bands(samples)], axis=1)


def model_frames_live(padded: np.ndarray, count: int, fast: int = 0) -> np.ndarray:
    """The live path of :func:`model_frames`: ``count`` frames of a buffer padded like it."""
    spec = log_spectrum_frames(padded, count)
    if not fast or count <= 0:
        return spec if not fast else np.zeros((0, N_BINS + fast), np.float32)
    return np.concatenate([spec, _fast_frames(padded, count)], axis=1)


def pad_context(spec: np.ndarray) -> np.ndarray:
    """Frames padded with silence so every frame has its full context (what the model graph takes)."""
    return np.concatenate([silence_frames(CONTEXT_BEFORE), spec, silence_frames(CONTEXT_AFTER)])

"""Audio I/O, resampling and the log-frequency features (numpy only, no model)."""
from __future__ import annotations

import wave

import numpy as np
import pytest

from bridge.errors import InputError
from plugins.transcription import features
from plugins.transcription.audio import SAMPLE_RATE, read_audio, resample, write_wav


def sine(hz: float, seconds: float = 1.0, rate: int = SAMPLE_RATE, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


@pytest.mark.parametrize("midi", [45, 57, 69, 81, 93])
def test_a_sine_peaks_in_its_pitch_bin(midi):
    spec = features.log_spectrum(sine(float(features.midi_to_hz(midi))))
    assert spec.shape == (features.n_frames(SAMPLE_RATE), features.N_BINS)
    peak = features.bin_midi()[spec[20:-20].argmax(axis=1)]
    assert np.all(np.abs(peak - midi) <= 0.5)


def test_silence_is_the_floor_and_empty_input_has_no_frames():
    spec = features.log_spectrum(np.zeros(4000, np.float32))
    assert np.allclose(spec, np.log(features.FLOOR))
    assert features.log_spectrum(np.zeros(0, np.float32)).shape == (0, features.N_BINS)
    padded = features.pad_context(spec)
    assert len(padded) == len(spec) + features.CONTEXT - 1


def test_an_eq_tilt_lifts_the_top_lowers_the_bottom_and_keeps_the_floor():
    spec = np.zeros((10, features.N_BINS + 4), np.float32)   # well above the floor; 4 extra columns
    assert features.tilted(spec, 0.0) is spec
    step = 6.0 * np.log(10) / 20
    up = features.tilted(spec, 6.0)
    np.testing.assert_allclose(up[0, :features.N_BINS], np.linspace(-step, step, features.N_BINS), atol=1e-6)
    assert np.array_equal(up[:, -4:], spec[:, -4:])   # only the spectrum's bins
    silence = features.silence_frames(5)
    assert features.tilted(silence, 6.0).min() >= silence.min()   # never below the floor


def test_live_frames_equal_offline_frames():
    x = np.random.default_rng(0).normal(0, 0.1, 9000).astype(np.float32)
    offline = features.log_spectrum(x)
    padded = np.concatenate([np.zeros(features.N_FFT // 2, np.float32), x])
    count = (len(padded) - features.N_FFT) // features.HOP + 1
    live = features.log_spectrum_frames(padded, count)
    np.testing.assert_allclose(live, offline[:count], atol=1e-5)


def test_wav_round_trip_stereo_and_resampling(tmp_path):
    x = sine(440.0, 0.5, 44100)
    stereo = np.stack([x, x], axis=1)
    path = tmp_path / "a.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes((stereo * 32767).astype("<i2").tobytes())
    y = read_audio(path)
    assert abs(len(y) - SAMPLE_RATE // 2) <= 1
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(spectrum.argmax() * SAMPLE_RATE / len(y) - 440.0) < 3.0
    out = write_wav(tmp_path / "b.wav", y)
    np.testing.assert_allclose(read_audio(out), y, atol=1e-4)


def test_resample_keeps_frequency_and_length():
    y = resample(sine(1000.0, 1.0, 22050), 22050, SAMPLE_RATE)
    assert len(y) == SAMPLE_RATE
    assert abs(np.abs(np.fft.rfft(y)).argmax() - 1000) <= 1


@pytest.mark.parametrize("content, match", [(b"", "not a readable audio file"),
                                            (b"RIFF\x00\x00garbage", "not a readable audio file"),
                                            (b"OggS" + bytes(100), "not a readable audio file")])
def test_unreadable_audio_is_one_line_input_error(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        read_audio(path)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav")


def test_fast_bands_see_a_short_dip_the_spectrum_smears_and_stream_like_offline():
    """A 30 ms dip of 26 dB (two repeated notes) is 2-4 dB deep in the 2048-sample spectrum and more than
    15 dB deep in the fast bands; the live path gives the offline frames."""
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * 1400 * t) * np.where((t > 0.5) & (t < 0.53), 0.05, 1)).astype(np.float32)
    frames = features.model_frames(x, features.FAST_BANDS)
    assert frames.shape == (features.n_frames(len(x)), features.N_BINS + features.FAST_BANDS)
    spec, bands = frames[:, :features.N_BINS].max(1), frames[:, features.N_BINS:].max(1)
    db = 20 / np.log(10)
    assert (spec[20] - spec[28:38].min()) * db < 5
    assert (bands[20] - bands[28:38].min()) * db > 15
    pad = features.N_FFT // 2
    padded = np.pad(x, (pad, pad + features.HOP))
    live = features.model_frames_live(padded, len(frames), features.FAST_BANDS)
    assert np.abs(live - frames).max() < 1e-5
    assert np.array_equal(features.model_frames(x), features.log_spectrum(x))


def test_a_file_is_scaled_to_the_reference_loudness():
    """features.normalized: any gain in, the reference loudness out (within MAX_GAIN_DB); silence and a model
    without a reference are left alone."""
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.4)).astype(np.float32)
    for gain in (0.01, 0.1, 1.0, 3.0):
        out = features.normalized(tone * gain, -30.0)
        assert abs(features.loudness_of_levels(features.fast_level(out)) + 30.0) < 0.5
    assert np.array_equal(features.normalized(tone, None), tone)
    assert not features.normalized(np.zeros(4000, np.float32), -30.0).any()
    quiet = features.normalized(tone * 1e-4, -10.0)     # 80 dB short: raised by MAX_GAIN_DB only
    assert abs(np.abs(quiet).max() / np.abs(tone * 1e-4).max() - 10 ** (features.MAX_GAIN_DB / 20)) < 1


def test_velocity_goes_back_by_the_gain_the_input_was_scaled_by():
    assert features.velocity_at_gain(80, 0.0) == 80
    assert features.velocity_at_gain(80, 12.0) == 40           # 12 dB louder heard: half the velocity played
    assert features.velocity_at_gain(100, -30.0) == 127 and features.velocity_at_gain(1, 30.0) == 1

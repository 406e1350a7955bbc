"""The butterchurn peer's pure-Python plumbing (bench/butterchurn_peer.py): audio -> analyser bytes,
page bytes -> frames, frames -> the benchmark's sync measure, the summary. The browser part runs in
the benchmark only (bench/bench_visuals.py), not here."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import butterchurn_peer as bp  # noqa: E402

FPS, RATE = 30.0, 22050


def test_analyser_bytes_are_web_audio_bytes_centred_on_each_frame() -> None:
    n = RATE * 2
    left = np.zeros(n, np.float32)
    right = np.zeros(n, np.float32)
    click = int(round(10.5 / FPS * RATE))          # the middle of frame 10's display time
    left[click] = 0.5
    right[click] = -1.5                            # beyond full scale: clipped to 0
    b = bp.analyser_bytes(np.stack([left, right], axis=1), RATE, FPS, 60)
    assert b.shape == (60, 3, bp.ANALYSER_SIZE) and b.dtype == np.uint8
    mono, lb, rb = b[10]
    assert lb[bp.ANALYSER_SIZE // 2] == 192 and rb[bp.ANALYSER_SIZE // 2] == 0
    assert mono[bp.ANALYSER_SIZE // 2] == np.floor(128 * (1 + (0.5 - 1.5) / 2))
    silent = np.ones(bp.ANALYSER_SIZE, bool)
    silent[bp.ANALYSER_SIZE // 2] = False
    assert (lb[silent] == 128).all()
    far = [i for i in range(60) if abs(i - 10) * RATE / FPS > bp.ANALYSER_SIZE / 2]
    assert (b[far] == 128).all()                   # the click is heard only by the frames around it


def test_analyser_bytes_take_mono_and_refuse_other_shapes() -> None:
    x = np.sin(np.linspace(0, 100, RATE)).astype(np.float32) * 0.25
    b = bp.analyser_bytes(x, RATE, FPS, 20)
    assert (b[:, 0] == b[:, 1]).all() and (b[:, 1] == b[:, 2]).all()
    with pytest.raises(ValueError, match="shape"):
        bp.analyser_bytes(np.zeros((10, 3, 2)), RATE, FPS, 5)


def test_frames_from_page_bytes_flip_gl_rows_and_check_the_length() -> None:
    side, n = 4, 2
    raw = np.arange(n * side * side * 3, dtype=np.uint32).astype(np.uint8)
    frames = bp.frames_from_bytes(raw.tobytes(), n, side)
    assert frames.shape == (n, side, side, 3)
    assert (frames[0, 0] == raw.reshape(n, side, side, 3)[0, side - 1]).all()   # GL's bottom row is last
    with pytest.raises(ValueError, match="expected"):
        bp.frames_from_bytes(raw[:-1].tobytes(), n, side)


def synthetic_onsets(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.where(rng.random(n) < 0.15, rng.random(n) * 5 + 1, 0.0) + rng.random(n) * 0.2


def frames_following(onset: np.ndarray, lag: int = 0) -> np.ndarray:
    """Grey frames whose frame-to-frame change is the onset curve (delayed by ``lag`` frames)."""
    drive = np.roll(onset, lag)
    level, out = 0.0, []
    for i, d in enumerate(drive):
        level += d if i % 2 else -d               # alternate the direction: the change is |d|
        out.append(np.full((16, 16), 100.0 + level))
    return np.stack(out)


def test_sync_of_frames_finds_frames_that_follow_the_music_and_their_lag() -> None:
    onset = synthetic_onsets(600, 0)
    s = bp.sync_of_frames(frames_following(onset), onset, FPS)
    assert s["r"] > 0.95 and s["best_lag_frames"] == 0 and abs(s["control_shifted"]) < 0.2
    late = bp.sync_of_frames(frames_following(onset, lag=2), onset, FPS)
    assert late["r"] < 0.3 and late["best_lag_frames"] == 2
    other = bp.sync_of_frames(frames_following(synthetic_onsets(600, 1)), onset, FPS)
    assert abs(other["r"]) < 0.2


def test_summary_reports_each_preset_the_median_and_the_ratio() -> None:
    rows = [{"bc": {"a": {"r": ra, "control_shifted": 0.0, "best_lag_frames": 0},
                    "b": {"r": rb, "control_shifted": 0.1, "best_lag_frames": 1},
                    "c": {"r": rc, "control_shifted": 0.0, "best_lag_frames": 0}}}
            for ra, rb, rc in ((0.1, 0.3, 0.5), (0.2, 0.4, 0.6), (0.3, 0.5, 0.7))]
    s = bp.summarise(rows, "bc", ours_median=0.8)
    assert s["sync_r_butterchurn_presets"] == {"a": 0.2, "b": 0.4, "c": 0.6}
    assert s["sync_r_butterchurn_median"] == 0.4 and s["sync_ratio_vs_butterchurn"] == 2.0
    assert s["sync_r_butterchurn_max"] == 0.7

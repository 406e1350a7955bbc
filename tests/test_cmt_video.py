"""CMT video controls on synthetic clips with known motion (written with OpenCV)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.errors import ConfigError, InputError
from plugins.cmt.video import bar_grid, video_controls

from clips import FPS, H, W, moving_texture  # noqa: F401


def _write(path: Path, fourcc: str, shifts: list[int]) -> Path:
    return moving_texture(path, shifts, fourcc)


@pytest.mark.parametrize("fourcc,ext,method", [("mp4v", "mp4", "dis"), ("MJPG", "avi", "farneback")])
def test_still_then_moving(tmp_path, fourcc, ext, method):
    # 8 s: still for 4 s, then 4 px/frame (= 0.25 frame widths per second)
    clip = _write(tmp_path / f"c.{ext}", fourcc, [0] * 80 + [4] * 80)
    c = video_controls(clip, beats_per_bar=4, bars=4, method=method)
    assert c.bars == 4 and c.bpm == pytest.approx(120.0) and c.duration == pytest.approx(8.0)
    assert (c.speed[:2] < 0.004).all()
    np.testing.assert_allclose(c.speed[2:], 0.25, rtol=0.1)
    assert c.density.tolist()[:2] == [1, 1] and (c.density[2:] >= 5).all()
    # one visual beat where the motion starts (bar 3); steady motion has none
    assert len(c.beat_times) >= 1 and c.beat_times[np.argmax(c.beat_heights)] == pytest.approx(4.0, abs=0.11)
    assert c.strength[2] >= 5 and c.strength[0] == c.strength[1] == 1


def test_bursts_give_visual_beats(tmp_path):
    # 4 s still, then a 3-frame jerk every 0.5 s: 8 visual beats in the last two bars
    shifts = [0] * 80 + [(6 if i % 10 < 3 else 0) for i in range(80)]
    c = video_controls(_write(tmp_path / "b.mp4", "mp4v", shifts), bars=4)
    late = c.beat_times[c.beat_heights > 0.05]
    assert len(late) == 8 and (late >= 3.9).all()
    np.testing.assert_allclose(np.diff(late), 0.5, atol=0.11)
    assert (c.strength[2:] > c.strength[:2]).all()


def test_default_bar_grid_fits_the_length():
    bars, bpm = bar_grid(10.0, 4.0)
    assert bars == 5 and bpm == pytest.approx(120.0)
    assert bar_grid(10.0, 3.0, bars=6) == (6, pytest.approx(108.0))
    with pytest.raises(ConfigError, match="BPM"):
        bar_grid(1.0, 4.0, bars=40)


def test_bad_videos_are_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match="no video file"):
        video_controls(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(InputError, match="cannot read video|no usable frame rate|no frames"):
        video_controls(text)
    with pytest.raises(InputError, match="no frames|cannot read video|no usable frame rate"):
        video_controls(_write(tmp_path / "empty.avi", "MJPG", []))
    with pytest.raises(InputError, match="only one frame"):
        video_controls(_write(tmp_path / "one.avi", "MJPG", [0]))
    with pytest.raises(InputError) as info:
        video_controls(text)
    assert "\n" not in str(info.value) and str(text) in str(info.value)


def test_live_motion_matches_the_file_analysis(tmp_path):
    import cv2

    from plugins.cmt.video import LiveMotion

    clip = _write(tmp_path / "live.avi", "MJPG", [0] * 80 + [4] * 80)
    live = LiveMotion(beats_per_bar=4)
    cap = cv2.VideoCapture(str(clip))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        live.add(frame, i / FPS, i / FPS * 2.0)            # 120 BPM: 2 beats per second
        i += 1
    cap.release()
    offline = video_controls(clip, bars=4)
    got = [live.bar_controls(b) for b in range(4)]
    assert [d for d, _ in got] == offline.density.tolist()
    assert got[2][1] >= 5 and got[0][1] == got[1][1] == 1
    assert live.bar_controls(9) == (1, 1)


def test_a_missing_camera_is_an_input_error():
    from plugins.cmt.video import open_camera

    with pytest.raises(InputError, match="no camera 7"):
        open_camera(7)

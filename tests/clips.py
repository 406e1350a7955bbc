"""Synthetic video clips with known motion, written with OpenCV (shared by the CMT tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

FPS, W, H = 20, 320, 240


def moving_texture(path: Path, shifts: list[int], fourcc: str = "mp4v", fps: int = FPS) -> Path:
    """A blurred-noise texture moved left by shifts[i] pixels before frame i."""
    import cv2

    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((H, W * 6)) * 255).astype(np.uint8), (0, 0), 3)
    tex = cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (W, H))
    assert vw.isOpened()
    x = 0
    for s in shifts:
        x += s
        vw.write(cv2.cvtColor(np.ascontiguousarray(np.roll(tex, -x, axis=1)[:, :W]), cv2.COLOR_GRAY2BGR))
    vw.release()
    return path


def still_then_moving(path: Path, seconds: float = 8.0, fps: int = FPS) -> Path:
    """First half still, second half moving fast: low then high density."""
    n = int(seconds * fps)
    return moving_texture(path, [0] * (n // 2) + [12] * (n - n // 2), fps=fps)

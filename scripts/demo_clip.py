"""Write a 12 s synthetic video for the demo: still, then slow, then fast motion with jolts (OpenCV only)."""
from __future__ import annotations

import sys

import cv2
import numpy as np


def main(path: str, seconds: float = 12.0, fps: int = 25, w: int = 640, h: int = 360) -> None:
    rng = np.random.default_rng(7)
    tex = cv2.GaussianBlur((rng.random((h, w * 8)) * 255).astype(np.uint8), (0, 0), 4)
    tex = cv2.applyColorMap(cv2.normalize(tex, None, 0, 255, cv2.NORM_MINMAX), cv2.COLORMAP_TWILIGHT)
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not vw.isOpened():
        sys.exit(f"demo_clip: cannot write {path}")
    x, n = 0.0, int(seconds * fps)
    for i in range(n):
        t = i / n
        speed = 0.0 if t < 0.25 else 3.0 if t < 0.5 else 14.0 + (40.0 if i % 25 == 0 else 0.0)
        x += speed
        vw.write(np.ascontiguousarray(np.roll(tex, -int(x), axis=1)[:, :w]))
    vw.release()


if __name__ == "__main__":
    main(sys.argv[1])

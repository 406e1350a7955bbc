"""A heat map of tags over time, drawn with pillow alone (like :mod:`bridge.pianoroll`).

One row per tag, grouped as in the manifest (a gap and the group's name
between groups), one column per window (its start time on the axis), white ->
dark blue for probability 0 -> 1; a cell at or above the tag's threshold gets a
dot, silent windows are hatched grey. The sentence is the title.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from bridge.api import InputError
from bridge.api import pil_font as _font

from .tagger import TagTimeline

BACKGROUND = (255, 255, 255)
TEXT = (40, 42, 48)
GRID = (214, 217, 224)
HOT = (8, 48, 107)
SILENT = (225, 225, 225)
ROW, LABEL_W, GAP, MAX_W = 16, 110, 14, 2000


def _colour(p: float) -> tuple[int, int, int]:
    p = float(min(1.0, max(0.0, p)))
    return tuple(int(round(255 + (h - 255) * p)) for h in HOT)  # type: ignore[return-value]


def render_heatmap(timeline: TagTimeline, groups: Mapping[str, Sequence[str]], thresholds: Mapping[str, float],
                   path: str | Path, title: str = "") -> Path:
    """Draw ``timeline`` into the PNG ``path``; returns the path."""
    from PIL import Image, ImageDraw

    path = Path(path)
    order = {t: i for i, t in enumerate(timeline.tags)}
    rows: list[tuple[str, str | None]] = []          # (label, tag or None for a group header)
    for group, tags in groups.items():
        rows.append((group, None))
        rows += [(t.replace("_", " "), t) for t in tags]
    n = len(timeline.starts_seconds)
    cell = max(2, min(24, (MAX_W - LABEL_W - 20) // max(1, n)))
    font, small = _font(12), _font(10)
    width = LABEL_W + cell * n + 20
    top = 44 + 16 * max(1, math.ceil(len(title) * 7 / max(1, width - 20)))
    height = top + sum(GAP if tag is None else ROW for _, tag in rows) + 70
    img = Image.new("RGB", (max(width, 320), height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    _wrap(draw, title, 10, 8, img.width - 20, font)
    y = top
    for label, tag in rows:
        if tag is None:
            draw.text((4, y), label, fill=TEXT, font=small)
            y += GAP
            continue
        draw.text((8, y + 2), label, fill=TEXT, font=font)
        column = timeline.probabilities[:, order[tag]]
        for i, p in enumerate(column):
            x = LABEL_W + i * cell
            box = (x, y, x + cell - 1, y + ROW - 2)
            if timeline.silent[i]:
                draw.rectangle(box, fill=SILENT)
                continue
            draw.rectangle(box, fill=_colour(p))
            if p >= thresholds.get(tag, 0.5) and cell >= 4:
                cx, cy = x + cell / 2, y + ROW / 2 - 1
                r = max(1, min(cell, ROW) // 6)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 200, 60))
        y += ROW
    draw.line((LABEL_W, y + 2, LABEL_W + cell * n, y + 2), fill=GRID)
    step = max(1, math.ceil(60 / cell))
    for i in range(0, n, step):
        x = LABEL_W + i * cell
        draw.line((x, y, x, y + 6), fill=TEXT)
        draw.text((x + 2, y + 8), f"{timeline.starts_seconds[i]:.1f}s", fill=TEXT, font=small)
    _wrap(draw, "window start (s); dot: at or above the tag's threshold; grey: silence", 8, y + 22,
          img.width - 16, small)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, format="PNG")
    except OSError as e:
        raise InputError(f"cannot write {path} ({e.strerror or e})") from None
    return path


def _wrap(draw, text: str, x: int, y: int, width: int, font) -> None:
    line = ""
    for w in text.split():
        trial = f"{line} {w}".strip()
        if draw.textlength(trial, font=font) > width and line:
            draw.text((x, y), line, fill=TEXT, font=font)
            y, line = y + 16, w
        else:
            line = trial
    if line:
        draw.text((x, y), line, fill=TEXT, font=font)


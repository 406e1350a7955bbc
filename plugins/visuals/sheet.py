"""Pictures around the video: the contact sheet, the sentence overlay and album-cover stills.

- :func:`contact_sheet`: frames in a grid, each labelled with its time, and
  the recording's sentence as the title (a PNG);
- :func:`overlay_text`: the sentence of the moment across the bottom of a frame;
- :func:`write_stills`: N stills with their sentences (PNG, the sentence also
  in the PNG's text chunk, and one JSON listing them).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from bridge.api import pil_font

BACKGROUND = (16, 16, 20)
INK = (235, 235, 235)


def _wrap(draw, text: str, font, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + ([line] if line else [])


def contact_sheet(frames: Sequence[np.ndarray], times_s: Sequence[float], title: str, path: Path,
                  columns: int = 4, tile: int = 256) -> Path:
    """A grid of ``frames`` (RGB uint8) scaled to ``tile`` px, labelled m:ss, titled; written to ``path``."""
    from PIL import Image, ImageDraw

    rows = max(1, -(-len(frames) // columns))
    pad, head = 8, 48
    sheet = Image.new("RGB", (columns * (tile + pad) + pad, head + rows * (tile + pad) + pad), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font, small = pil_font(16), pil_font(13)
    for k, line in enumerate(_wrap(draw, title, font, sheet.width - 2 * pad)[:2]):
        draw.text((pad, 6 + 20 * k), line, fill=INK, font=font)
    for i, (frame, t) in enumerate(zip(frames, times_s)):
        x, y = pad + (i % columns) * (tile + pad), head + (i // columns) * (tile + pad)
        sheet.paste(Image.fromarray(np.asarray(frame, np.uint8)).resize((tile, tile), Image.LANCZOS), (x, y))
        label = f"{int(t // 60)}:{t % 60:04.1f}"
        draw.rectangle((x + 4, y + 4, x + 8 + draw.textlength(label, font=small), y + 22), fill=BACKGROUND)
        draw.text((x + 6, y + 5), label, fill=INK, font=small)
    sheet.save(path)
    return path


def overlay_text(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` with ``text`` in white on a dark band along the bottom (wrapped, at most two lines)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.asarray(frame, np.uint8))
    draw = ImageDraw.Draw(img, "RGBA")
    size = max(10, img.width // 32)
    font = pil_font(size)
    lines = _wrap(draw, text, font, img.width - 2 * size)[:2]
    band = (len(lines) * (size + 4)) + size
    draw.rectangle((0, img.height - band, img.width, img.height), fill=(0, 0, 0, 110))
    for k, line in enumerate(lines):
        draw.text((size, img.height - band + size // 2 + k * (size + 4)), line, fill=INK, font=font)
    return np.asarray(img)


def write_stills(stills: Sequence[tuple[np.ndarray, float, str]], folder: Path, stem: str) -> Path:
    """PNGs ``<stem>.still<k>.png`` (sentence in the PNG text chunk) and ``<stem>.stills.json``."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    listing = []
    for k, (frame, t, sentence) in enumerate(stills, 1):
        info = PngInfo()
        info.add_text("Description", sentence)
        info.add_text("Source", f"cmt-bridge visualize, {t:.2f} s")
        path = folder / f"{stem}.still{k}.png"
        Image.fromarray(np.asarray(frame, np.uint8)).save(path, pnginfo=info)
        listing.append({"file": path.name, "seconds": round(float(t), 3), "sentence": sentence})
    index = folder / f"{stem}.stills.json"
    index.write_text(json.dumps(listing, indent=1) + "\n")
    return index

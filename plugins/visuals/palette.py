"""Tags -> palette and scene: what the music is (instruments, mode, dynamics, tempo) chooses the colours.

The rules, each a smooth function of the tag probabilities (so a tag fading in
shifts the colours gradually):

- hue: the probability-weighted circular mean of the instruments' hues
  (:data:`INSTRUMENT_HUES`: strings amber, brass gold, woodwind green, piano blue,
  organ crimson, synth pad violet, bass indigo, guitar orange, drums red);
- mode: major warms and lightens, minor cools and darkens;
- dynamics: loud raises contrast, soft lowers it;
- density: dense spreads the palette over more hues, sparse keeps it close;
- register: high lightens, low darkens;
- tempo and articulation set the scene: fast moves faster, staccato warps harder;
- the tint: the embedding on its first three principal axes (unseeded) moves hue,
  lightness and spread (:data:`TINT`), so music that sounds alike is coloured alike
  even where a tag flips; chosen on calibration music (bench/visuals_reference.py's
  seeds), not on the benchmark's pieces.

Tags a model does not have are simply absent (probability 0); with none of
these tags at all the palette comes from the embedding alone (see steering).
The palette is IQ's cosine palette ``a + b cos(2 pi (c t + d))``: 12 floats; ``a`` carries
the hue, ``d`` is the same for every hue (:data:`PALETTE_PHASE`), so a hue step is a colour step.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass
from typing import Mapping

import numpy as np

INSTRUMENT_HUES = {"strings": 0.08, "brass": 0.13, "woodwind": 0.32, "piano": 0.58, "organ": 0.96,
                   "synth_pad": 0.78, "bass": 0.68, "guitar": 0.05, "drums": 0.0}
NEUTRAL_HUE = 0.55
PALETTE_PHASE = 0.55      # the cosine's phase: the same for every hue, so the base colour carries the hue
TINT = (0.3, 0.3, 0.05)  # how far the embedding's tint moves hue, lightness, spread


@dataclass(frozen=True)
class Scene:
    """Palette (12 floats) and the scene numbers the tags set."""

    palette: np.ndarray
    speed: float        # base motion, phase units per second
    warp: float         # how far the noise fields fold (2.5 calm .. 4.5 agitated)
    zoom: float         # 1.4 (large forms) .. 2.4 (fine)


def _p(probs: Mapping[str, float], tag: str) -> float:
    return float(np.clip(probs.get(tag, 0.0), 0.0, 1.0))


def hue_of(probs: Mapping[str, float], default: float = NEUTRAL_HUE) -> float:
    """The weighted circular mean of the instruments' hues (0..1); ``default`` when none is heard."""
    w = np.array([_p(probs, t) ** 2 for t in INSTRUMENT_HUES])
    if w.sum() < 1e-3:
        return default % 1.0
    ang = 2 * np.pi * np.array(list(INSTRUMENT_HUES.values()))
    z = (w * np.exp(1j * ang)).sum()
    weight = min(1.0, float(w.sum()))      # a faint instrument pulls only part of the way from the default
    zd = np.exp(2j * np.pi * default)
    return float(np.angle(weight * z / abs(z) + (1 - weight) * zd) / (2 * np.pi)) % 1.0


def scene_of(probs: Mapping[str, float], hue_offset: float = 0.0, default_hue: float = NEUTRAL_HUE,
             tint: np.ndarray | None = None) -> Scene:
    """The palette and scene of one set of tag probabilities (a tag -> p mapping, p in 0..1).

    ``tint``: three numbers in (-1, 1), the embedding on its first principal axes (see steering):
    they move hue, lightness and spread, so music that sounds alike is coloured alike even where
    a tag flips.
    """
    t = np.zeros(3) if tint is None else np.clip(np.asarray(tint, float), -1.0, 1.0)
    major, minor = _p(probs, "major"), _p(probs, "minor")
    mode = major - minor                                     # -1 minor .. +1 major
    loud = _p(probs, "loud") - _p(probs, "soft")
    dense = _p(probs, "dense") - _p(probs, "sparse")
    high = _p(probs, "high") - _p(probs, "low")
    fast = _p(probs, "fast") - _p(probs, "slow")
    staccato = _p(probs, "staccato") - _p(probs, "legato")
    hue = (hue_of(probs, default_hue) - 0.04 * mode + hue_offset + TINT[0] * t[0]) % 1.0
    light = float(np.clip(0.50 + 0.07 * mode + 0.06 * high + TINT[1] * t[1], 0.25, 0.75))
    contrast = float(np.clip(0.42 + 0.08 * loud, 0.25, 0.55))
    spread = float(np.clip(0.16 + 0.08 * dense + TINT[2] * t[2], 0.04, 0.32))
    sat = float(np.clip(0.55 + 0.15 * mode, 0.3, 0.8))
    a = np.array(colorsys.hsv_to_rgb(hue, sat, 1.0)) * light + (1 - sat) * 0.0
    b = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.25, 1.0)) * contrast
    c = np.array([1.0, 1.0, 1.0]) * (0.8 + 0.2 * dense)
    d = np.array([0.0, spread, 2 * spread]) + PALETTE_PHASE
    palette = np.concatenate([a, b, c, d]).astype(np.float32)
    return Scene(palette=palette, speed=float(0.35 + 0.25 * fast), warp=float(3.2 + 0.8 * staccato),
                 zoom=float(1.9 - 0.3 * dense))

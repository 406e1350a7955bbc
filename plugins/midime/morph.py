"""Interpolation as a musician hears it: step 1 is phrase A, the last step is phrase B, every step distinct.

``MusicVAE.interpolate`` decodes every step from the latent path, so its ends
are the model's *reconstructions* of A and B, and neighbouring latents often
decode to one phrase (on real folk phrases, 5 steps gave as few as 3
distinct). :func:`morph` keeps the model's path for the middle steps but
plays the inputs themselves at the ends (saying so in one line when the model
cannot reproduce an input), and replaces a middle step that repeats an
earlier one (or B) by the nearest distinct decode: first from latents nearer
its neighbours on the path, then by sampling around its latent (seeded). Works
on token sequences of any length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .vae import slerp

if TYPE_CHECKING:
    from .vae import MusicVAE

NUDGES = (0.25, -0.25, 0.5, -0.5)   # tried path positions around a repeated step, in steps
RESAMPLE_TEMPERATURES = (0.3, 0.6, 1.0, 1.5)
RESAMPLE_TRIES = 16                  # samples drawn at each of those temperatures


@dataclass
class Morph:
    """``tokens`` int [steps, T]; ``sources`` says where each step came from; ``remarks``: one line each."""

    tokens: np.ndarray
    sources: list[str]
    remarks: list[str] = field(default_factory=list)

    @property
    def distinct(self) -> int:
        return len({tuple(int(t) for t in row) for row in self.tokens})


def _key(row: np.ndarray) -> tuple[int, ...]:
    return tuple(int(t) for t in row)


def _unreproduced(vae: "MusicVAE", tokens: np.ndarray, names: tuple[str, ...]) -> list[str]:
    rec = vae.reconstruct(tokens)
    out = []
    for name, x, r in zip(names, tokens, rec):
        wrong = int((x != r).sum())
        if wrong:
            out.append(f"phrase {name}: the model cannot reproduce it (its decode differs in {wrong} of "
                       f"{len(x)} steps), so the interpolation plays {name} itself there")
    return out


def morph(vae: "MusicVAE", a: np.ndarray, b: np.ndarray, steps: int, rng: np.random.Generator | None = None,
          temperature: float = 0.0) -> Morph:
    """``steps`` phrases from ``a`` to ``b`` (end points included; 1 step: the middle of the path)."""
    a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
    rng = rng if rng is not None else np.random.default_rng(0)
    if steps <= 2:
        if steps == 1:
            return Morph(vae.interpolate(a, b, 1, temperature, rng), ["path 0.5"])
        return Morph(np.stack([a, b]), ["A", "B"])
    mu, _ = vae.encode(np.stack([a, b]))
    remarks = _unreproduced(vae, np.stack([a, b]), ("A", "B"))
    if _key(a) == _key(b):
        remarks.append("phrases A and B are the same phrase: the path goes nowhere")

    def decode_at(ts: list[float]) -> np.ndarray:
        z = np.stack([slerp(mu[0], mu[1], float(t)) for t in ts]).astype(np.float32)
        return vae.decode(z, temperature, rng)

    ts = list(np.linspace(0.0, 1.0, steps)[1:-1])
    middle = decode_at(ts)
    seen = {_key(a), _key(b)}
    rows, sources = [a], ["A"]
    h = 1.0 / (steps - 1)
    for i, (t, row) in enumerate(zip(ts, middle)):
        source = f"path {t:.3f}"
        if _key(row) in seen:
            row, source = _distinct(vae, mu, t, h, seen, rng, decode_at)
            if row is None:
                row, source = middle[i], f"path {t:.3f}"
                remarks.append(f"step {i + 2} repeats another step: the model found nothing new near it")
        seen.add(_key(row))
        rows.append(row)
        sources.append(source)
    rows.append(b)
    sources.append("B")
    return Morph(np.stack(rows), sources, remarks)


def _distinct(vae: "MusicVAE", mu: np.ndarray, t: float, h: float, seen: set, rng: np.random.Generator,
              decode_at) -> tuple[np.ndarray | None, str]:
    """The nearest decode around path position ``t`` that is not in ``seen`` (None when none is found)."""
    nudged = [t + k * h for k in NUDGES if 0.0 < t + k * h < 1.0]
    for t2, row in zip(nudged, decode_at(nudged) if nudged else []):
        if _key(row) not in seen:
            return row, f"path {t2:.3f} (nudged)"
    z = np.repeat(slerp(mu[0], mu[1], t)[None].astype(np.float32), RESAMPLE_TRIES, axis=0)
    for temp in RESAMPLE_TEMPERATURES:
        for row in vae.decode(z, temp, rng):
            if _key(row) not in seen:
                return row, f"path {t:.3f} (sampled at temperature {temp:g})"
    return None, ""

"""Frozen, named tagger configs (no torch import)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaggerConfig:
    """One training run. ``minutes`` caps wall time (the supervised baseline and CLMR get the same)."""

    name: str
    doc: str
    mode: str = "supervised"          # supervised | clmr
    head: str = "mlp"                 # head trained with the encoder (supervised) or on it frozen (clmr eval)
    batch: int = 32                   # clips (supervised) or pairs (clmr)
    lr: float = 1e-3
    steps: int = 100000               # upper bound; ``minutes`` usually stops first
    minutes: float = 55.0
    temperature: float = 0.5          # NT-Xent
    c2d: tuple[int, int, int] = (16, 32, 64)
    c1d: int = 256
    eval_every: int = 400
    seed: int = 0
    data: str = ""                    # data dir; "" = $CMT_BRIDGE_DATA/tagger


CONFIGS: dict[str, TaggerConfig] = {c.name: c for c in (
    TaggerConfig("tagger", "tagger: supervised from scratch on the rendered clips (the shipped default)"),
    TaggerConfig("tagger-clmr", "tagger: CLMR NT-Xent pre-training, then linear and MLP heads on the frozen encoder",
                 mode="clmr", batch=48, lr=3e-4),
    TaggerConfig("tagger-tiny", "tagger: a tiny supervised config that trains in seconds (CI)",
                 batch=4, steps=3, minutes=1.0, c2d=(4, 4, 4), c1d=8, eval_every=1000),
    TaggerConfig("tagger-clmr-tiny", "tagger: a tiny CLMR config that trains in seconds (CI)",
                 mode="clmr", batch=4, steps=3, minutes=1.0, c2d=(4, 4, 4), c1d=8, eval_every=1000),
)}

"""Training the 16-bar MusicVAE: the 2-bar family's loop (export/musicvae/train.py) with this model.

The loop, its batches (random transposition, word dropout), KL with free bits
and beta warm-up, free-running validation, checkpoints and ``--resume`` are
shared; only the model differs. See configs.py for ``minutes`` (same-time
baselines).
"""
from __future__ import annotations

from pathlib import Path

from ..musicvae.train import train as _train
from .configs import HierConfig
from .model import MusicVAE16


def train(cfg: HierConfig, run_dir: Path, resume: bool = False, steps: int | None = None,
          seed: int | None = None, threads: int | None = None, command: str | None = None) -> dict:
    """Train ``cfg`` (hierarchical or flat) into ``run_dir``."""
    if steps:
        cfg = cfg.replace(steps=steps)
    if seed is not None:
        cfg = cfg.replace(seed=seed)
    return _train(cfg, run_dir, resume=resume, threads=threads, command=command, build=MusicVAE16)

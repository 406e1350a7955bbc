"""The tagger (issue 12, CLMR, seed 001): rendered data, a light encoder, contrastive and supervised training,
ONNX export through the shared pipeline.

``tagger`` (data prepare: 3 s clips of music21 pieces rendered with FluidSynth,
labels from their MIDI) -> ``configs`` (tagger, tagger-clmr, and tiny CI
configs) -> ``train`` -> ``export`` (export/pipeline.py). Importing this
package needs no torch (the configs are plain dataclasses).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..families import Dataset, Family


def prepare_tagger(out: Path | None = None, *, jobs: int = 2, limit: int | None = None) -> str:
    """Parse the pieces and render the clips (resumable); one summary line."""
    from .data import prepare

    idx = prepare(out, jobs=jobs, limit=limit)
    return f"tagger: pieces {idx['pieces']}, shards {idx['shards']} x {idx['shard_size']} clips per soundfont"


def train_tagger(cfg, run_dir: Path, *, resume: bool = False, steps: int | None = None, seed: int | None = None,
                 threads: int | None = None, command: str = "") -> Path:
    """Train ``cfg`` (supervised, or CLMR pre-training + linear/MLP probes) into ``run_dir``."""
    from .train import train

    if seed is not None:
        cfg = replace(cfg, seed=seed)
    return train(cfg, Path(run_dir), resume=resume, steps=steps, threads=threads, command=command or None)


def export_tagger(source: str, *, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
                  command: str = "") -> Path:
    """A config's checkpoint (``tagger``: ckpt.pt; ``tagger-clmr``: the MLP probe) or a checkpoint path -> folder."""
    from .export import export

    return export(source, out, run_dir=run_dir, tolerance=tolerance, command=command)


FAMILY = Family(
    name="tagger",
    doc="music -> 24 tags, a sentence and an embedding (CLMR setting)",
    configs="export.tagger.configs:CONFIGS",
    train=train_tagger,
    export=export_tagger,
    datasets=(Dataset("tagger", "3 s clips of music21 pieces rendered with FluidSynth (+ pedalboard effects), "
                                "labels from their MIDI", prepare_tagger),),
    shipped=("tagger",),
)

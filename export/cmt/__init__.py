"""CMT, the controllable music transformer (the ``cmt`` generator), trained on music21's multi-part scores.

``cmt`` (data prepare: scores -> compound-word tokens, export/cmt/parts.py
maps parts to instruments) -> ``configs`` -> ``train`` -> ``export`` (through
export/pipeline.py).
"""
from __future__ import annotations

from pathlib import Path

from ..families import Dataset, Family


def prepare_cmt(out: Path | None = None, *, jobs: int = 2, limit: int | None = None) -> str:
    from .data import prepare

    idx = prepare(out, jobs=jobs, limit=limit)
    return (f"cmt: {idx['pieces']} pieces, tokens train {idx['train_tokens']} / valid {idx['valid_tokens']} / "
            f"test {idx['test_tokens']}, {len(idx['skipped'])} skipped (reasons in index.json)")


FAMILY = Family(
    name="cmt",
    doc="CMT multi-track music bar by bar (cmt)",
    configs="export.cmt.configs:CONFIGS",
    train="export.cmt.train:train",
    export="export.cmt.export:export",
    datasets=(Dataset("cmt", "music21's multi-part scores as compound-word tokens", prepare_cmt),),
    shipped=("cmt",),
)

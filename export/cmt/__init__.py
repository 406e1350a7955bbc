"""CMT, the controllable music transformer (the ``cmt`` generator), trained on music21's multi-part scores.

``cmt`` (data prepare: scores -> compound-word tokens, export/cmt/parts.py
maps parts to instruments; ``midi-cmt``: your own multi-part MIDI files,
export/cmt/midi.py) -> ``configs`` -> ``train`` -> ``export`` (through
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


def prepare_midi_cmt(out: Path | None = None, *, source: Path, jobs: int = 2, limit: int | None = None) -> str:
    from .midi import prepare

    idx = prepare(source, out, jobs=jobs, limit=limit)
    return (f"midi-cmt: {idx['pieces']} pieces from {idx['files']} files, tokens train {idx['train_tokens']} / "
            f"valid {idx['valid_tokens']} / test {idx['test_tokens']}, {len(idx['skipped'])} skipped "
            f"(reasons in index.json) -> {idx['out']}; train: cmt-bridge train cmt --data {idx['out']}")


FAMILY = Family(
    name="cmt",
    doc="CMT multi-track music bar by bar (cmt)",
    configs="export.cmt.configs:CONFIGS",
    train="export.cmt.train:train",
    export="export.cmt.export:export",
    datasets=(Dataset("cmt", "music21's multi-part scores as compound-word tokens", prepare_cmt),
              Dataset("midi-cmt", "CMT pieces from the multi-part files (several tracks or channels) of your own "
                                  "MIDI folder (data prepare midi-cmt DIR)", prepare_midi_cmt,
                      source="a folder of your MIDI files")),
    shipped=("cmt",),
)

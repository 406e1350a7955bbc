"""MusicVAE 2-bar melodies (the model the ``midime`` generator plays), trained on music21's folk tunes.

``folk`` (data prepare) -> ``configs`` -> ``train`` -> ``export`` (through
export/pipeline.py, then ``decoder_sample`` built from the step graphs).
"""
from __future__ import annotations

from pathlib import Path

from ..families import Dataset, Family


def prepare_folk(out: Path | None = None, *, jobs: int = 2, limit: int | None = None) -> str:
    from .folk import prepare

    idx = prepare(out, jobs=jobs, limit=limit)
    return (f"{idx['dataset']}: {idx['tunes']} tunes, windows train {idx['train_windows']} / "
            f"valid {idx['valid_windows']} / test {idx['test_windows']}, {len(idx['unparseable'])} files skipped")


FAMILY = Family(
    name="musicvae",
    doc="MusicVAE 2-bar melodies (midime)",
    configs="export.musicvae.configs:CONFIGS",
    train="export.musicvae.train:train",
    export="export.musicvae.export:export",
    datasets=(Dataset("folk", "monophonic 2-bar melodies from music21's ABC tunes", prepare_folk),),
    shipped=("musicvae-mel2bar",),
)

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


def prepare_midi(out: Path | None = None, *, source: Path, jobs: int = 2, limit: int | None = None) -> str:
    from .midi import prepare

    idx = prepare(source, out, jobs=jobs, limit=limit)
    return (f"{idx['dataset']} ({idx['source']}): {idx['files_used']} of {idx['files']} files, windows train "
            f"{idx['train_windows']} / valid {idx['valid_windows']} / test {idx['test_windows']}, "
            f"{len(idx['skipped'])} files skipped; train on it: cmt-bridge train musicvae-mel2bar --data "
            f"{idx['out']} --init onnx_models/musicvae-mel2bar --run-dir runs/mine")


FAMILY = Family(
    name="musicvae",
    doc="MusicVAE 2-bar melodies (midime)",
    configs="export.musicvae.configs:CONFIGS",
    train="export.musicvae.train:train",
    export="export.musicvae.export:export",
    datasets=(Dataset("folk", "monophonic 2-bar melodies from music21's ABC tunes", prepare_folk),
              Dataset("midi", "2-bar melody windows from your own MIDI folder (data prepare midi DIR)",
                      prepare_midi, source="a folder of your MIDI files")),
    shipped=("musicvae-mel2bar",),
    from_folder="export.musicvae.weights:checkpoint_from_folder",
)

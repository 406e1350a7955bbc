"""The cross-modal audio <-> symbol VAE (the ``transcription`` generator), trained on FluidSynth renders.

``transcription`` (data prepare: MusicVAE's folk windows rendered for five
instruments; needs ``data prepare folk`` first) -> ``configs`` -> ``train`` ->
``export`` (through export/pipeline.py).
"""
from __future__ import annotations

from pathlib import Path

from ..families import Dataset, Family


def prepare_transcription(out: Path | None = None, *, jobs: int = 2, limit: int | None = None) -> str:
    """Render data/folk into data/transcription; ``limit``: that many training chunks (``jobs`` is unused)."""
    from ..data import data_root
    from .data import FONTS_HINT, missing_train_fonts, prepare

    idx = prepare(data_root() / "folk", out, chunks={"train": limit} if limit else None)
    line = f"transcription: {idx['chunks']} chunks per instrument and soundfont rendered"
    missing = missing_train_fonts(idx.get("soundfonts", {}).get("train", []))
    if missing:   # enough for the tests and the tiny configs, not for the shipped recipes
        line += (f"; training soundfonts {', '.join(missing)} missing: only tiny configs train on this (to retrain "
                 f"the shipped models: {FONTS_HINT}, then this again)")
    return line


FAMILY = Family(
    name="transcription",
    doc="cross-modal audio <-> symbol VAE (transcription)",
    configs="export.transcription.configs:CONFIGS",
    train="export.transcription.train:train",
    export="export.transcription.export:export",
    datasets=(Dataset("transcription", "the folk melodies rendered with FluidSynth for 5 instruments, paired "
                                       "with frame labels (needs folk first)", prepare_transcription),),
    shipped=("transcription-eq-violin2", "transcription-duet-soup"),
    from_folder="export.transcription.weights:checkpoint_from_folder",
)

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
    from .data import prepare

    idx = prepare(data_root() / "folk", out, chunks={"train": limit} if limit else None)
    return f"transcription: {idx['chunks']} chunks per instrument and soundfont rendered"


FAMILY = Family(
    name="transcription",
    doc="cross-modal audio <-> symbol VAE (transcription)",
    configs="export.transcription.configs:CONFIGS",
    train="export.transcription.train:train",
    export="export.transcription.export:export",
    datasets=(Dataset("transcription", "the folk melodies rendered with FluidSynth for 5 instruments, paired "
                                       "with frame labels (needs folk first)", prepare_transcription),),
    shipped=("transcription-eq-soup", "transcription-duet-soup"),
    from_folder="export.transcription.weights:checkpoint_from_folder",
)

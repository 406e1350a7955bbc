"""MusicVAE 16 bars with the hierarchical ("conductor") decoder of hierdec-mel_16bar, on music21's folk tunes.

``folk16`` (data prepare: 16-bar windows, split by tune, repeats kept) ->
``configs`` -> ``train`` -> ``export`` (encoder, conductor, and one graph per
bar, so a 16-bar sample is 1 + 16 onnxruntime calls). The ``midime``
generator plays it with ``model=musicvae-mel16bar``.
"""
from __future__ import annotations

from pathlib import Path

from ..families import Dataset, Family

BARS = 16
STEPS = 16 * BARS  # 256 sixteenths


def prepare_folk16(out: Path | None = None, *, jobs: int = 2, limit: int | None = None) -> str:
    from ..musicvae.folk import prepare

    idx = prepare(out, jobs=jobs, limit=limit, dataset="folk16", steps=STEPS)
    return (f"{idx['dataset']}: {idx['tunes']} tunes, 16-bar windows train {idx['train_windows']} / "
            f"valid {idx['valid_windows']} / test {idx['test_windows']}, {len(idx['unparseable'])} files skipped")


FAMILY = Family(
    name="musicvae16",
    doc="MusicVAE 16-bar melodies, hierarchical decoder (midime model=musicvae-mel16bar)",
    configs="export.musicvae16.configs:CONFIGS",
    train="export.musicvae16.train:train",
    export="export.musicvae16.export:export",
    datasets=(Dataset("folk16", "monophonic 16-bar melodies from music21's ABC tunes (split by tune)",
                      prepare_folk16),),
    shipped=("musicvae-mel16bar-pool",),
)

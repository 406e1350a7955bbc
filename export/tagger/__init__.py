"""The tagger (issue 12, CLMR): rendered data, a light encoder, contrastive and supervised training, ONNX export.

Entry points for the CLI: :func:`prepare` (``cmt-bridge data prepare tagger``),
:func:`train` (``cmt-bridge train tagger...``) and :func:`export`
(``cmt-bridge export-onnx tagger``). :data:`CONFIGS` names the frozen configs;
importing this package needs no torch (the configs are plain dataclasses).
"""
from __future__ import annotations

from pathlib import Path

from .configs import CONFIGS, TaggerConfig  # noqa: F401


def prepare(out: Path | None = None, jobs: int = 2, limit: int | None = None) -> dict:
    """Parse the pieces and render the clips (resumable); returns data/tagger/index.json's content."""
    from .data import prepare as _prepare

    return _prepare(out, jobs=jobs, limit=limit)


def train(name: str, run_dir: Path | None = None, cfg: TaggerConfig | None = None, **kw) -> Path:
    """Train config ``name`` (or ``cfg``) into ``run_dir`` (default runs/<name>); returns the checkpoint."""
    from .train import train as _train

    return _train(cfg or CONFIGS[name], Path(run_dir or Path("runs") / name), **kw)


def export(name_or_ckpt: str, out: Path | None = None, **kw) -> Path:
    """Export a trained tagger to onnx_models/tagger (or ``out``); returns the folder."""
    from .export import export as _export

    return _export(name_or_ckpt, out, **kw)

"""Where prepared datasets live, shared by every family (no torch, no music21).

``$CMT_BRIDGE_DATA`` or ``data/``: ``cmt-bridge data prepare <dataset>`` writes
``<root>/<dataset>/`` and training reads it from there. Families that build on
another family's dataset (transcription renders MusicVAE's folk windows) find it
here, so no family imports another.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "CMT_BRIDGE_DATA"


def data_root() -> Path:
    """Where prepared datasets live: ``$CMT_BRIDGE_DATA`` or ``data/``."""
    return Path(os.environ.get(ENV_DATA, "data"))

"""The embedding reference: where the tagger's embeddings of music sit (mean, principal axes, spreads).

Measured once on calibration music (generated pieces rendered with FluidR3,
none of them in the benchmark's held-out set) by
``python bench/visuals_reference.py`` and shipped as ``reference.json`` next to
this module. It names the tagger model it was measured on (its sha256): for
another model (another embedding), :func:`load_reference` returns None and the
steering falls back to a seeded random projection centred on each recording.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

REFERENCE_FILE = Path(__file__).with_name("reference.json")


@dataclass(frozen=True)
class Reference:
    mean: np.ndarray          # [D]
    components: np.ndarray    # [K, D], unit rows, by decreasing variance
    scales: np.ndarray        # [K] standard deviation along each component
    model_sha256: str

    @property
    def dim(self) -> int:
        return len(self.mean)

    def to_json(self) -> dict:
        return {"model_sha256": self.model_sha256, "dim": self.dim,
                "mean": [round(float(v), 6) for v in self.mean],
                "components": [[round(float(v), 6) for v in row] for row in self.components],
                "scales": [round(float(v), 6) for v in self.scales]}


def fit_reference(embeddings: np.ndarray, model_sha256: str, k: int = 8) -> Reference:
    """Mean and the top ``k`` principal axes of embeddings [n, D]."""
    e = np.asarray(embeddings, np.float64)
    mean = e.mean(axis=0)
    _, sv, vt = np.linalg.svd(e - mean, full_matrices=False)
    scales = sv[:k] / np.sqrt(max(1, len(e) - 1))
    return Reference(mean, vt[:k], scales, model_sha256)


def load_reference(model_sha256: str | None, dim: int, path: Path = REFERENCE_FILE) -> Reference | None:
    """The shipped reference when it was measured on this model (sha256) and dimension; else None."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        ref = Reference(np.array(doc["mean"], np.float64), np.array(doc["components"], np.float64),
                        np.array(doc["scales"], np.float64), str(doc["model_sha256"]))
    except (OSError, ValueError, KeyError) as e:
        log.warning("visuals: ignoring %s (%s)", path, e)
        return None
    if ref.dim != dim or (model_sha256 is not None and ref.model_sha256 != model_sha256):
        log.info("visuals: the embedding reference is for another tagger model; using a random projection")
        return None
    return ref

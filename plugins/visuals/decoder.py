"""Bring your own image generator: any ONNX graph with a latent input, described by a manifest.

The folder is an ordinary cmt-bridge model folder (``manifest.json`` with
``graphs``, sha256 per file, semantic input/output names) plus one key::

    "image_generator": {"graph": "decoder",      # which graph (default: the only one)
                        "latent": "latent",      # its input: float32 [1, latent_size]
                        "image": "image",        # its output: one image
                        "latent_size": 512,
                        "layout": "NCHW",        # or "NHWC"; 1, 3 or 4 channels (alpha dropped)
                        "range": [-1.0, 1.0]}    # the output's black and white

A StyleGAN or VQGAN decoder exported by its user plugs in this way (run
offline, or on their GPU with ``onnxruntime-gpu``). The frame's parameter
vector becomes the latent through a seeded linear map of its smooth parts
(the eight shape numbers, sines and cosines of the motion phase, the pulse),
scaled so each latent coordinate has about unit variance, as a GAN's z: the
walk stays smooth and the same seed gives the same latents.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from bridge.api import ModelBundle, ModelError

from . import shader as S

log = logging.getLogger(__name__)

KEY = "image_generator"
LAYOUTS = ("NCHW", "NHWC")
PHASE_RATES = (0.11, 0.17, 0.29, 0.43)     # radians per phase unit: slow and faster cycles of the motion


def drive(vector: np.ndarray) -> np.ndarray:
    """The smooth parts of a frame vector: shape [8], sin/cos of the phase at four rates, the pulse (17 floats)."""
    v = np.asarray(vector, np.float64)
    angles = np.array(PHASE_RATES) * v[S.PHASE]
    return np.concatenate([v[S.SHAPE], np.sin(angles), np.cos(angles), [v[S.PULSE]]])


class OnnxImageGenerator:
    """Renders frames with a user's ONNX generator; same interface as the shader renderer."""

    def __init__(self, folder: str | Path, size: int, seed: int = 0, provider: str | None = None) -> None:
        folder = Path(folder)
        self.bundle = ModelBundle.load(folder, provider=provider)
        spec = self.bundle.manifest.get(KEY)
        if not isinstance(spec, dict):
            raise ModelError(f"{folder}: the manifest has no '{KEY}' section (latent_size, layout, range)")
        graphs = self.bundle.graphs
        name = spec.get("graph") or (next(iter(graphs)) if len(graphs) == 1 else None)
        if name not in graphs:
            raise ModelError(f"{folder}: '{KEY}.graph' must name one of {', '.join(graphs)}")
        self.graph = graphs[name]
        self.latent, self.image = spec.get("latent", "latent"), spec.get("image", "image")
        if self.latent not in self.graph.inputs or self.image not in self.graph.outputs:
            raise ModelError(f"{folder}/{name}: needs input '{self.latent}' and output '{self.image}' "
                             f"(has {sorted(self.graph.inputs)} / {sorted(self.graph.outputs)})")
        try:
            self.latent_size = int(spec["latent_size"])
            self.layout = str(spec.get("layout", "NCHW")).upper()
            lo, hi = (float(x) for x in spec.get("range", (-1.0, 1.0)))
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{folder}: '{KEY}' needs latent_size (int), layout and range [lo, hi]") from None
        if self.latent_size < 1 or self.layout not in LAYOUTS or not hi > lo:
            raise ModelError(f"{folder}: '{KEY}': latent_size >= 1, layout one of {', '.join(LAYOUTS)}, "
                             f"range lo < hi (got {self.latent_size}, {self.layout}, [{lo}, {hi}])")
        self.lo, self.hi = lo, hi
        self.size = int(size)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 11])
        n = len(drive(np.zeros(S.N_PARAMS)))
        self.matrix = rng.standard_normal((self.latent_size, n)) * math.sqrt(2.0 / n)
        self.render(np.zeros(S.N_PARAMS, np.float32))     # fail now, not at frame 1, when shapes disagree

    def latent_of(self, vector: np.ndarray) -> np.ndarray:
        return (self.matrix @ drive(vector)).astype(np.float32)[None, :]

    def render(self, vector: np.ndarray) -> np.ndarray:
        """uint8 [size, size, 3] from the generator's output for this frame's latent."""
        try:
            out = np.asarray(self.graph.run(**{self.latent: self.latent_of(vector)})[self.image], np.float32)
        except ModelError:
            raise
        except Exception as e:  # noqa: BLE001 - onnxruntime's own error types
            raise ModelError(f"{self.bundle.name}: the generator failed on a latent [1, {self.latent_size}] "
                             f"({str(e).strip().splitlines()[0][:160]})") from None
        img = out[0] if out.ndim == 4 else out
        if img.ndim != 3:
            raise ModelError(f"{self.bundle.name}: the image output must be [1, C, H, W] or [1, H, W, C], "
                             f"got {list(out.shape)}")
        if self.layout == "NCHW":
            img = np.transpose(img, (1, 2, 0))
        channels = img.shape[2]
        if channels not in (1, 3, 4):
            raise ModelError(f"{self.bundle.name}: the image has {channels} channels ({self.layout}); 1, 3 or 4 expected")
        img = np.repeat(img, 3, axis=2) if channels == 1 else img[:, :, :3]
        rgb = np.clip((img - self.lo) / (self.hi - self.lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if rgb.shape[:2] != (self.size, self.size):
            from PIL import Image

            rgb = np.asarray(Image.fromarray(rgb).resize((self.size, self.size), Image.BICUBIC))
        return rgb

    def close(self) -> None:
        self.bundle.close()

    def __enter__(self) -> "OnnxImageGenerator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

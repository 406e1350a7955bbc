"""MusicVAE at run time: encode, decode, sample and interpolate 2-bar melodies through ONNX.

The model folder (``onnx_models/musicvae-mel2bar``) holds three graphs
(``encoder``, ``decoder_init``, ``decoder_step``; see API.md). Decoding runs
the step graph 32 times for a whole batch at once, so every variation of one
request costs the same 32 calls. Torch-free: onnxruntime + numpy.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from bridge.errors import InputError, ModelError
from bridge.runtime import ModelBundle, default_models_dir

from . import melody

log = logging.getLogger(__name__)

MODEL_NAME = "musicvae-mel2bar"
EXPECT = {
    "encoder": ({"melody"}, {"mu", "sigma"}),
    "decoder_init": ({"z"}, {"state"}),
    "decoder_step": ({"z", "prev_token", "state"}, {"logits", "state"}),
}
_VOCAB = {"rest": melody.REST, "hold": melody.HOLD, "min_pitch": melody.MIN_PITCH, "max_pitch": melody.MAX_PITCH,
          "start": melody.START, "steps": melody.STEPS, "num_classes": melody.NUM_CLASSES}


def fingerprint(bundle: ModelBundle) -> str:
    """sha256 over the sha256 of every graph file: what a personal ``.midime`` model is tied to."""
    parts = sorted(f"{name}:{spec.get('sha256', '')}" for name, spec in bundle.manifest["graphs"].items())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between latent vectors (MusicVAE's choice: stays on the prior's shell)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return (1 - t) * a + t * b
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-4:
        return (1 - t) * a + t * b
    s = np.sin(omega)
    return (np.sin((1 - t) * omega) / s) * a + (np.sin(t * omega) / s) * b


class MusicVAE:
    """The 2-bar melody MusicVAE of a loaded :class:`ModelBundle`."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        man = bundle.manifest
        for key in ("z_dim", "vocab"):
            if key not in man:
                raise ModelError(f"{bundle.name}: manifest has no {key!r}")
        vocab = man["vocab"]
        for key, want in _VOCAB.items():
            if vocab.get(key) != want:
                raise ModelError(f"{bundle.name}: manifest vocab {key}={vocab.get(key)!r}, this cmt-bridge's "
                                 f"melody tokens need {want} (model and plugin versions disagree)")
        self.z_dim = int(man["z_dim"])
        self.steps = melody.STEPS
        self.default_temperature = float(man.get("sampling", {}).get("temperature", 0.5))
        self._encoder = bundle.graph("encoder")
        self._init = bundle.graph("decoder_init")
        self._step = bundle.graph("decoder_step")
        self.fingerprint = fingerprint(bundle)

    @property
    def name(self) -> str:
        return self.bundle.name

    @classmethod
    def load(cls, folder: str | Path | None = None, provider: str | None = None, threads: int = 1) -> "MusicVAE":
        """Load ``folder`` (default ``<models dir>/musicvae-mel2bar``)."""
        folder = Path(folder) if folder else default_models_dir() / MODEL_NAME
        if not (folder / "manifest.json").is_file():
            raise ModelError(f"no MusicVAE model in {folder} (pass --model DIR, set CMT_BRIDGE_MODELS, or export "
                             f"one: cmt-bridge export-onnx {MODEL_NAME})")
        return cls(ModelBundle.load(folder, provider=provider, threads=threads, expect=EXPECT))

    # -- the model's four verbs --------------------------------------------------
    def encode(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Melody tokens int [B, 32] -> posterior mu, sigma float32 [B, Z]."""
        x = np.asarray(tokens)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.steps:
            raise InputError(f"melody tokens must be [batch, {self.steps}], got shape {list(x.shape)}")
        if x.size and (x.min() < 0 or x.max() >= melody.NUM_CLASSES):
            raise InputError(f"melody tokens must be in 0..{melody.NUM_CLASSES - 1}")
        out = self._encoder.run(melody=x.astype(np.int64))
        return out["mu"].astype(np.float32), out["sigma"].astype(np.float32)

    def decode(self, z: np.ndarray, temperature: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Latents [B, Z] -> tokens int64 [B, 32]; temperature 0 = argmax, else sample softmax(logits / T)."""
        z = np.ascontiguousarray(np.asarray(z, dtype=np.float32))
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InputError(f"latents must be [batch, {self.z_dim}], got shape {list(z.shape)}")
        if temperature < 0:
            raise InputError(f"temperature must be >= 0, got {temperature}")
        rng = rng if rng is not None else np.random.default_rng()
        batch = z.shape[0]
        state = self._init.run(z=z)["state"]
        prev = np.full(batch, melody.START, dtype=np.int64)
        out = np.empty((batch, self.steps), dtype=np.int64)
        for t in range(self.steps):
            res = self._step.run(z=z, prev_token=prev, state=state)
            logits, state = res["logits"], res["state"]
            if temperature <= 0:
                prev = logits.argmax(axis=1).astype(np.int64)
            else:  # Gumbel-max: one draw per row == sampling softmax(logits / T)
                prev = (logits / temperature + rng.gumbel(size=logits.shape)).argmax(axis=1).astype(np.int64)
            out[:, t] = prev
        return out

    def sample(self, n: int, temperature: float = 0.5, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` new melodies from the prior z ~ N(0, I) -> tokens [n, 32]."""
        rng = rng if rng is not None else np.random.default_rng()
        z = rng.standard_normal((int(n), self.z_dim)).astype(np.float32)
        return self.decode(z, temperature, rng)

    def reconstruct(self, tokens: np.ndarray) -> np.ndarray:
        """Free-running argmax decoding from the posterior mean (what the model 'heard')."""
        mu, _ = self.encode(tokens)
        return self.decode(mu, 0.0)

    def interpolation_latents(self, tokens_a: np.ndarray, tokens_b: np.ndarray, steps: int) -> np.ndarray:
        """``steps`` latents slerped from a's posterior mean to b's, end points included (1 step: the middle)."""
        if steps < 1:
            raise InputError(f"interpolation needs at least 1 step, got {steps}")
        mu, _ = self.encode(np.stack([np.asarray(tokens_a).reshape(-1), np.asarray(tokens_b).reshape(-1)]))
        ts = [0.5] if steps == 1 else np.linspace(0.0, 1.0, steps)
        return np.stack([slerp(mu[0], mu[1], float(t)) for t in ts]).astype(np.float32)

    def interpolate(self, tokens_a: np.ndarray, tokens_b: np.ndarray, steps: int = 5,
                    temperature: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
        """Melodies moving from a to b: tokens [steps, 32], first ~ a and last ~ b (argmax by default)."""
        return self.decode(self.interpolation_latents(tokens_a, tokens_b, steps), temperature, rng)

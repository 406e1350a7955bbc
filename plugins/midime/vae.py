"""MusicVAE at run time: encode, decode, sample and interpolate 2-bar melodies through ONNX.

The model folder (``onnx_models/musicvae-mel2bar``) holds three graphs
(``encoder``, ``decoder_init``, ``decoder_step``) and, when it was built
(``python -m export.musicvae.sample_graph DIR``, part of ``cmt-bridge export-onnx``),
``decoder_sample``: the whole 32-step decode unrolled into one graph, made from
the other two. Decoding is then one onnxruntime call for a whole batch;
without it, the step graph is called 32 times. Both give the same tokens.
Torch-free: onnxruntime + numpy.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from bridge.api import InputError, ModelBundle, ModelError, model_folder

from . import melody

log = logging.getLogger(__name__)

MODEL_NAME = "musicvae-mel2bar"
EXPECT = {
    "encoder": ({"melody"}, {"mu", "sigma"}),
    "decoder_init": ({"z"}, {"state"}),
    "decoder_step": ({"z", "prev_token", "state"}, {"logits", "state"}),
}
SAMPLE_GRAPH = "decoder_sample"
# optional: older model folders do not have it (decode falls back to the step loop)
OPTIONAL = {SAMPLE_GRAPH: ({"z", "noise", "temperature"}, {"tokens"})}
# graphs derived from the others (same weights): not part of the fingerprint, so adding one keeps .midime files valid
DERIVED = frozenset({SAMPLE_GRAPH, "bar_sample"})
_VOCAB = {"rest": melody.REST, "hold": melody.HOLD, "min_pitch": melody.MIN_PITCH, "max_pitch": melody.MAX_PITCH,
          "start": melody.START, "num_classes": melody.NUM_CLASSES}


def fingerprint(bundle: ModelBundle) -> str:
    """sha256 over the sha256 of every graph file but the derived ones: what a personal ``.midime`` model is tied to."""
    parts = sorted(f"{name}:{spec.get('sha256', '')}" for name, spec in bundle.manifest["graphs"].items()
                   if name not in DERIVED)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _sample_graph(bundle: ModelBundle, name: str = SAMPLE_GRAPH, optional: dict | None = None):
    """The bundle's one-call sampling graph ``name``, or None (absent, or built from other step graphs)."""
    graph = bundle.graphs.get(name)
    if graph is None:
        return None
    ins, outs = (optional or OPTIONAL)[name]
    if not ins <= set(graph.inputs) or not outs <= set(graph.outputs):
        raise ModelError(f"{bundle.name}/{name}: expected inputs {sorted(ins)} outputs {sorted(outs)}, "
                         f"has {sorted(graph.inputs)} / {sorted(graph.outputs)}")
    graphs = bundle.manifest["graphs"]
    for source, sha in graphs[name].get("built_from", {}).items():
        if graphs.get(source, {}).get("sha256") != sha:
            log.warning("%s: %s was built from another %s than this folder's: decoding step by step "
                        "(export the model again)", bundle.name, name, source)
            return None
    return graph


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
    """The 2-bar melody MusicVAE of a loaded :class:`ModelBundle` (the 16-bar model is a subclass: vae16.py)."""

    MODEL_NAME = MODEL_NAME
    EXPECT = EXPECT
    STEPS = melody.STEPS

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
        if vocab.get("steps") != self.STEPS:
            raise ModelError(f"{bundle.name}: a {vocab.get('steps')}-step model, not the {self.STEPS}-step "
                             f"{type(self).__name__}")
        self.z_dim = int(man["z_dim"])
        self.steps = self.STEPS
        self.default_temperature = float(man.get("sampling", {}).get("temperature", 0.5))
        self._encoder = bundle.graph("encoder")
        self._graphs(bundle)
        self.fingerprint = fingerprint(bundle)

    def _graphs(self, bundle: ModelBundle) -> None:
        self._init = bundle.graph("decoder_init")
        self._step = bundle.graph("decoder_step")
        self._sample = _sample_graph(bundle)

    @property
    def bars(self) -> int:
        return self.steps // melody.STEPS_PER_BAR

    @property
    def name(self) -> str:
        return self.bundle.name

    @classmethod
    def load(cls, folder: str | Path | None = None, provider: str | None = None, threads: int = 1) -> "MusicVAE":
        """Load ``folder`` (default ``<models dir>/musicvae-mel2bar``, or the subclass's model)."""
        folder = model_folder(cls.MODEL_NAME, folder)
        if not (folder / "manifest.json").is_file():
            raise ModelError(f"no MusicVAE model in {folder} (pass --model DIR, set CMT_BRIDGE_MODELS, or export "
                             f"one: cmt-bridge export-onnx {cls.MODEL_NAME})")
        return cls(ModelBundle.load(folder, provider=provider, threads=threads, expect=cls.EXPECT))

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

    def decode(self, z: np.ndarray, temperature: float = 0.0, rng: np.random.Generator | None = None,
               **options) -> np.ndarray:
        """Latents [B, Z] -> tokens int64 [B, 32]; temperature 0 = argmax, else sample softmax(logits / T).
        ``options`` go to :meth:`decode_noise` (the 16-bar model's ``form``)."""
        z = self._latents(z)
        if temperature < 0:
            raise InputError(f"temperature must be >= 0, got {temperature}")
        if temperature <= 0:
            return self.decode_noise(z, 0.0, None, **options)
        rng = rng if rng is not None else np.random.default_rng()
        return self.decode_noise(z, temperature, self.gumbel(len(z), rng), **options)

    def gumbel(self, batch: int, rng: np.random.Generator) -> np.ndarray:
        """Gumbel noise float32 [batch, 32, C], drawn step after step (the stream the step-by-step decode drew)."""
        g = rng.gumbel(size=(self.steps, batch, melody.NUM_CLASSES))
        return np.ascontiguousarray(g.transpose(1, 0, 2), dtype=np.float32)

    def decode_noise(self, z: np.ndarray, temperature: float, noise: np.ndarray | None,
                     graph: bool = True) -> np.ndarray:
        """The deterministic core of :meth:`decode`: token t = argmax(logits_t + temperature * noise[:, t]).

        Gumbel-max: with Gumbel noise this samples softmax(logits / temperature) (argmax(logits / T + g) =
        argmax(logits + T g)); temperature 0 or noise None is argmax. One ``decoder_sample`` call when the
        folder has it (and ``graph``), else the step graph 32 times; the two give the same tokens.
        """
        z = self._latents(z)
        batch = z.shape[0]
        if noise is not None:
            noise = np.ascontiguousarray(noise, dtype=np.float32)
            if noise.shape != (batch, self.steps, melody.NUM_CLASSES):
                raise InputError(f"noise must be [{batch}, {self.steps}, {melody.NUM_CLASSES}], "
                                 f"got {list(noise.shape)}")
        if batch == 0:
            return np.empty((0, self.steps), dtype=np.int64)
        if graph and self._sample is not None:
            if noise is None:
                noise = np.zeros((batch, self.steps, melody.NUM_CLASSES), dtype=np.float32)
            temp = np.array([temperature], dtype=np.float32)
            return self._sample.run(z=z, noise=noise, temperature=temp)["tokens"].astype(np.int64)
        state = self._init.run(z=z)["state"]
        prev = np.full(batch, melody.START, dtype=np.int64)
        out = np.empty((batch, self.steps), dtype=np.int64)
        temp = np.float32(temperature)
        for t in range(self.steps):
            res = self._step.run(z=z, prev_token=prev, state=state)
            logits, state = res["logits"], res["state"]
            if noise is not None and temp != 0:
                logits = logits + temp * noise[:, t]
            prev = logits.argmax(axis=1).astype(np.int64)
            out[:, t] = prev
        return out

    @property
    def has_sample_graph(self) -> bool:
        """True when :meth:`decode` runs the one-call ``decoder_sample`` graph."""
        return self._sample is not None

    def _latents(self, z: np.ndarray) -> np.ndarray:
        z = np.ascontiguousarray(np.asarray(z, dtype=np.float32))
        if z.ndim == 1:
            z = z[None]
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise InputError(f"latents must be [batch, {self.z_dim}], got shape {list(z.shape)}")
        return z

    def sample(self, n: int, temperature: float = 0.5, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` new melodies from the prior z ~ N(0, I) -> tokens [n, 32]."""
        rng = rng if rng is not None else np.random.default_rng()
        z = rng.standard_normal((int(n), self.z_dim)).astype(np.float32)
        return self.decode(z, temperature, rng)

    def learning_latents(self, windows: np.ndarray, rng: np.random.Generator | None = None,
                         draws: int = 8) -> np.ndarray:
        """What MidiMe learns from: the posterior means of ``windows`` [N, steps]. One window (a single
        16-bar section) gives no spread to learn, so then it is ``draws`` samples of its posterior
        N(mu, sigma): MidiMe learns the neighbourhood the encoder allows that piece."""
        mu, sigma = self.encode(windows)
        if len(mu) >= 2:
            return mu
        rng = rng if rng is not None else np.random.default_rng(0)
        eps = rng.standard_normal((draws, mu.shape[1])).astype(np.float32)
        return (mu[:1] + sigma[:1] * eps).astype(np.float32)

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

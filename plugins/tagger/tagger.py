"""The runtime tagger: audio windows -> per-tag probabilities and the encoder's embedding.

:class:`Tagger` is the one place that knows the model's tensors: the graph
with input ``audio`` ([batch, samples] mono float32 at the manifest's
``sample_rate``) and outputs ``logits`` ([batch, n_tags], sigmoid ->
probabilities) and ``embedding`` ([batch, D]). Everything about the
vocabulary comes from the manifest: ``tags`` (ordered), ``tag_groups``
(group -> tags), ``thresholds`` (tag -> probability), ``window_seconds``.

A file is cut into windows of ``window_seconds`` every ``hop`` seconds (the
last one ends at the end of the file; a file shorter than one window is
zero-padded to one). Windows quieter than :data:`SILENCE_DBFS` are marked
silent and get no tags; a file's pooled probabilities are the mean over its
sounding windows (CLMR's protocol: average the chunk predictions).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bridge.api import InputError, ModelBundle, ModelError, default_models_dir

from bridge.api import read_audio

log = logging.getLogger(__name__)

MODEL_NAME = "tagger"
GRAPH = "tagger"
INPUTS, OUTPUTS = {"audio"}, {"logits", "embedding"}
MANIFEST_KEYS = ("tags", "tag_groups", "thresholds", "sample_rate", "window_seconds")
DEFAULT_HOP_SECONDS = 1.5
SILENCE_DBFS = -60.0   # a window whose RMS is below this is silence: no tags
BATCH = 16             # windows per inference call (memory stays flat on long files)
MIN_SECONDS = 0.05     # shorter input is an error, not a padded window


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    if len(samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows covering ``n_samples``: every ``hop``, the last one flush with the end."""
    if window < 1 or hop < 1:
        raise InputError(f"window and hop must be >= 1 sample, got {window} and {hop}")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def cut_windows(samples: np.ndarray, window: int, hop: int) -> tuple[list[int], np.ndarray]:
    """(start samples, [n_windows, window] float32); a short input is zero-padded to one window."""
    samples = np.asarray(samples, np.float32).reshape(-1)
    starts = window_starts(len(samples), window, hop)
    out = np.zeros((len(starts), window), np.float32)
    for i, s in enumerate(starts):
        chunk = samples[s:s + window]
        out[i, :len(chunk)] = chunk
    return starts, out


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60, 60)))).astype(np.float32)


@dataclass
class TagTimeline:
    """Tags over time for one recording: one row per window."""

    tags: list[str]
    rate: int
    window_seconds: float
    hop_seconds: float
    duration_seconds: float
    starts_seconds: np.ndarray          # [W]
    probabilities: np.ndarray           # [W, n_tags]
    embeddings: np.ndarray              # [W, D]
    silent: np.ndarray                  # [W] bool
    padded: bool = False                # the input was shorter than one window
    extra: dict = field(default_factory=dict)

    @property
    def is_silence(self) -> bool:
        return bool(self.silent.all())

    def pooled(self) -> np.ndarray:
        """Mean probability per tag over the sounding windows (zeros when all are silent)."""
        sounding = ~self.silent
        if not sounding.any():
            return np.zeros(len(self.tags), np.float32)
        return self.probabilities[sounding].mean(axis=0)

    def pooled_embedding(self) -> np.ndarray:
        sounding = ~self.silent
        if not sounding.any():
            return np.zeros(self.embeddings.shape[1], np.float32)
        return self.embeddings[sounding].mean(axis=0)


class Tagger:
    """The tagger model of one folder: ``probabilities(windows)``, ``timeline(samples)``, ``tag_file(path)``."""

    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        m = bundle.manifest
        missing = [k for k in MANIFEST_KEYS if k not in m]
        if missing:
            raise ModelError(f"{bundle.name}: the manifest lacks {', '.join(missing)} (not a tagger model?)")
        self.graph = self._find_graph(bundle)
        self.tags: list[str] = [str(t) for t in m["tags"]]
        self.groups: dict[str, list[str]] = {str(g): [str(t) for t in ts] for g, ts in m["tag_groups"].items()}
        self.thresholds: dict[str, float] = {str(t): float(p) for t, p in m["thresholds"].items()}
        unknown = sorted({t for ts in self.groups.values() for t in ts} - set(self.tags))
        if unknown or len(set(self.tags)) != len(self.tags):
            raise ModelError(f"{bundle.name}: tag_groups name tags not in 'tags' ({', '.join(unknown)}) "
                             f"or 'tags' repeats a name")
        self.rate = int(m["sample_rate"])
        self.window_seconds = float(m["window_seconds"])
        self.window = int(round(self.window_seconds * self.rate))
        if self.rate < 1000 or self.window < 1:
            raise ModelError(f"{bundle.name}: sample_rate {self.rate} / window_seconds {self.window_seconds} "
                             f"are not usable")
        tensor = self.graph.inputs["audio"]["tensor"]
        shape = next((i.shape for i in self.graph.session.get_inputs() if i.name == tensor), [None, None])
        if isinstance(shape[-1], int) and shape[-1] != self.window:
            raise ModelError(f"{bundle.name}: the graph takes {shape[-1]} samples, the manifest says "
                             f"{self.window_seconds:g} s at {self.rate} Hz = {self.window}")
        self.fixed_batch = isinstance(shape[0], int) and shape[0] > 0    # a graph exported with batch 1, say
        self.batch = int(shape[0]) if self.fixed_batch else BATCH

    @staticmethod
    def _find_graph(bundle: ModelBundle):
        """The graph with input ``audio`` and outputs ``logits`` + ``embedding`` (named ``tagger`` by default)."""
        candidates = [g for name, g in bundle.graphs.items()
                      if INPUTS <= set(g.inputs) and OUTPUTS <= set(g.outputs)]
        named = [g for g in candidates if g.name == GRAPH]
        if named or candidates:
            return (named or candidates)[0]
        raise ModelError(f"{bundle.name}: no graph with input 'audio' and outputs 'logits', 'embedding' "
                         f"(has {', '.join(bundle.graphs)})")

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1, provider: str | None = None) -> "Tagger":
        folder = Path(folder) if folder else default_models_dir() / MODEL_NAME
        if not (folder / "manifest.json").is_file():
            raise ModelError(f"no tagger model in {folder} (pass --model DIR; the default is onnx_models/tagger)")
        return cls(ModelBundle.load(folder, provider=provider, threads=threads))

    @property
    def name(self) -> str:
        return self.bundle.name

    # -- inference -------------------------------------------------------------
    def run(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [B, n_tags], embedding [B, D]) of windows [B, window] at ``rate``."""
        windows = np.asarray(windows, np.float32)
        if windows.ndim != 2 or windows.shape[1] != self.window:
            raise InputError(f"tagger windows must be [batch, {self.window}] samples, got {list(windows.shape)}")
        out = self.graph.run(audio=windows)
        logits, embedding = np.asarray(out["logits"]), np.asarray(out["embedding"], np.float32)
        if logits.shape != (len(windows), len(self.tags)):
            raise ModelError(f"{self.name}: logits have shape {list(logits.shape)}, expected "
                             f"[{len(windows)}, {len(self.tags)}] (manifest tags)")
        return sigmoid(logits), embedding.reshape(len(windows), -1)

    def timeline(self, samples: np.ndarray, hop_seconds: float = DEFAULT_HOP_SECONDS,
                 progress: Callable[[int, int], None] | None = None) -> TagTimeline:
        """Tags over time of mono float samples at ``rate``; ``progress(done, total)`` after each batch."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        if not hop_seconds > 0:
            raise InputError(f"hop must be > 0 seconds, got {hop_seconds:g}")
        if len(samples) < MIN_SECONDS * self.rate:
            raise InputError(f"{len(samples) / self.rate:.3f} s of audio is too short to tag "
                             f"(at least {MIN_SECONDS:g} s; shorter than {self.window_seconds:g} s is padded)")
        hop = max(1, int(round(hop_seconds * self.rate)))
        starts, windows = cut_windows(samples, self.window, hop)
        silent = np.array([rms_dbfs(samples[s:s + self.window]) < SILENCE_DBFS for s in starts])
        probs = np.zeros((len(starts), len(self.tags)), np.float32)
        embeds: list[np.ndarray] = []
        for b in range(0, len(starts), self.batch):
            chunk = windows[b:b + self.batch]
            if self.fixed_batch and len(chunk) < self.batch:     # pad the last call
                chunk = np.concatenate([chunk, np.zeros((self.batch - len(chunk), self.window), np.float32)])
            p, e = self.run(chunk)
            n = min(self.batch, len(starts) - b)
            probs[b:b + n] = p[:n]
            embeds.append(e[:n])
            if progress is not None:
                progress(b + n, len(starts))
        probs[silent] = 0.0
        return TagTimeline(self.tags, self.rate, self.window_seconds, hop / self.rate, len(samples) / self.rate,
                           np.array(starts, np.float64) / self.rate, probs, np.concatenate(embeds), silent,
                           padded=len(samples) < self.window)

    def tag_file(self, path: str | Path, hop_seconds: float = DEFAULT_HOP_SECONDS,
                 progress: Callable[[int, int], None] | None = None) -> TagTimeline:
        return self.timeline(read_audio(path, self.rate), hop_seconds, progress)

    def tag_window(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """(probabilities, embedding, silent) of the last ``window`` samples (zero-padded in front) - the live path."""
        samples = np.asarray(samples, np.float32).reshape(-1)[-self.window:]
        window = np.zeros(self.window, np.float32)
        if len(samples):
            window[-len(samples):] = samples
        batch = np.repeat(window[None], self.batch, axis=0) if self.fixed_batch else window[None]
        p, e = self.run(batch)
        silent = rms_dbfs(samples) < SILENCE_DBFS
        return (np.zeros_like(p[0]) if silent else p[0]), e[0], silent

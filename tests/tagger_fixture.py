"""A tiny tagger model folder for tests: an ONNX graph with hand-set weights, NOT a trained model.

It has the shipped tagger's interface (input ``audio`` [batch, samples];
outputs ``logits`` [batch, n_tags] and ``embedding`` [batch, D]) and a
manifest in the same format (tags, tag_groups, thresholds, sample_rate,
window_seconds, sha256), but deliberately different numbers from the shipped
model (8 kHz, 1 s windows) so tests show nothing is hard-coded, and raw tensor
names that differ from the semantic ones (the runtime must map them).

What it computes, so tests can reason about plumbing (never about quality):
the embedding is the mean |sample| of each of :data:`CHUNKS` equal chunks of
the window; every logit is ``gain * mean|x| + bias``: "loud" rises with level
(probability 0.5 at mean |x| = 0.1), "soft" falls, the other tags are fixed
by their bias (some above their threshold, some below), so a loud sound gives a
known sentence and a quiet one another.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from export.tagger.vocab import TAG_GROUPS   # numpy only: the trainer's torch is not needed

RATE, WINDOW_SECONDS, CHUNKS = 8000, 1.0, 8
GROUPS = {g: list(ts) for g, ts in TAG_GROUPS.items()}   # the model's vocabulary, declared once
TAGS = [t for ts in GROUPS.values() for t in ts]
# bias per tag (logit at silence level); gain per unit mean |x|
BIAS = {t: -4.0 for t in TAGS} | {"strings": 2.0, "piano": 1.0, "ensemble": 1.5, "solo": -1.0, "fast": 2.5,
                                  "medium": 0.5, "minor": 1.2, "major": 0.3, "dense": -0.5, "legato": -0.2}
GAIN = {"loud": 40.0, "soft": -40.0}
BIAS |= {"loud": -4.0, "soft": 4.0}
THRESHOLDS = {t: 0.5 for t in TAGS} | {"dense": 0.45}
# in plain words, for a loud sound (mean |x| >= 0.2):
LOUD_SENTENCE = "a fast, loud ensemble piece for strings and piano in a minor key"
QUIET_SENTENCE = "a fast, soft ensemble piece for strings and piano in a minor key"


def build_graph(window: int, batch: int | str = "batch"):
    """The ONNX model (opset 17) with raw tensor names wave_in / tag_logits / enc_vec (``batch``: a fixed one)."""
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((CHUNKS, len(TAGS)), np.float32)
    for i, t in enumerate(TAGS):
        w[:, i] = GAIN.get(t, 0.0) / CHUNKS
    b = np.array([BIAS[t] for t in TAGS], np.float32)
    inits = [numpy_helper.from_array(np.array([-1, CHUNKS, window // CHUNKS], np.int64), "shape"),
             numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    nodes = [helper.make_node("Reshape", ["wave_in", "shape"], ["chunks"]),
             helper.make_node("Abs", ["chunks"], ["mag"]),
             helper.make_node("ReduceMean", ["mag"], ["enc_vec"], axes=[2], keepdims=0),
             helper.make_node("MatMul", ["enc_vec", "w"], ["mw"]),
             helper.make_node("Add", ["mw", "b"], ["tag_logits"])]
    graph = helper.make_graph(
        nodes, "tagger_fixture",
        [helper.make_tensor_value_info("wave_in", TensorProto.FLOAT, [batch, window])],
        [helper.make_tensor_value_info("tag_logits", TensorProto.FLOAT, [batch, len(TAGS)]),
         helper.make_tensor_value_info("enc_vec", TensorProto.FLOAT, [batch, CHUNKS])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def make_tagger_folder(folder: Path, rate: int = RATE, window_seconds: float = WINDOW_SECONDS,
                       batch: int | str = "batch") -> Path:
    """Write ``folder/tagger.onnx`` and ``folder/manifest.json``; returns the folder."""
    import onnx

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    window = int(round(rate * window_seconds))
    if window % CHUNKS:
        raise ValueError(f"window {window} must be a multiple of {CHUNKS}")
    path = folder / "tagger.onnx"
    onnx.save(build_graph(window, batch), str(path))
    manifest = {
        "name": "tagger", "version": "test-fixture",
        "description": "test fixture with hand-set weights (not trained): plumbing only",
        "graphs": {"tagger": {
            "file": "tagger.onnx", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "inputs": {"audio": {"tensor": "wave_in", "dtype": "float32", "shape": ["batch", window]}},
            "outputs": {"logits": {"tensor": "tag_logits", "dtype": "float32", "shape": ["batch", len(TAGS)]},
                        "embedding": {"tensor": "enc_vec", "dtype": "float32", "shape": ["batch", CHUNKS]}}}},
        "tags": TAGS, "tag_groups": GROUPS, "thresholds": THRESHOLDS,
        "sample_rate": rate, "window_seconds": window_seconds, "opset": 17,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def tone(seconds: float, rate: int = RATE, amplitude: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)

"""Export a trained tagger to ``onnx_models/tagger``: tagger.onnx + manifest.json.

Graph ``tagger``: input ``audio`` float32 [batch, samples] (16 kHz mono, 3.0 s
windows = 48000 samples), outputs ``logits`` float32 [batch, 24] (sigmoid gives
probabilities) and ``embedding`` float32 [batch, 512]. Steps: export (opset 17,
TorchScript exporter) -> metadata_props -> thresholds (F1-optimal per tag on the
validation clips) -> manifest -> reload through bridge.runtime.ModelBundle ->
parity with torch on held-out test clips (fails above the tolerance) -> golden
outputs for a formula-defined input (:func:`golden_input`). Held-out quality
figures are added by ``bench/bench_tagger.py --write-manifest``.
"""
from __future__ import annotations

import json
import logging
import platform
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle, default_models_dir, sha256

from . import data, vocab
from .render import SAMPLE_RATE, WINDOW_SECONDS

log = logging.getLogger(__name__)
OPSET = 17
MODEL_NAME = "tagger"
SOURCES = {"tagger": "runs/tagger/ckpt.pt", "tagger-clmr": "runs/tagger-clmr/mlp.pt",
           "tagger-tiny": "runs/tagger-tiny/ckpt.pt", "tagger-clmr-tiny": "runs/tagger-clmr-tiny/mlp.pt"}


def golden_input() -> np.ndarray:
    """float32 [2, 48000]: an A-minor triad with decaying notes, and seeded white noise at 0.05 RMS."""
    t = np.arange(int(SAMPLE_RATE * WINDOW_SECONDS)) / SAMPLE_RATE
    tri = sum(0.1 * np.sin(2 * np.pi * f * t) * np.exp(-((t % 0.75) * 3.0)) for f in (220.0, 261.63, 329.63))
    noise = np.random.default_rng(0).standard_normal(len(t)) * 0.05
    return np.stack([tri, noise]).astype(np.float32)


def f1_thresholds(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Per tag, the probability threshold with the best F1 on (labels, probs) (0.5 when a tag never occurs)."""
    out = {}
    for j, tag in enumerate(vocab.TAGS):
        y, p = labels[:, j].astype(bool), probs[:, j]
        if y.sum() == 0:
            out[tag] = 0.5
            continue
        best, thr = -1.0, 0.5
        for c in np.unique(np.round(p, 3)):
            pred = p >= c
            tp = float(np.sum(pred & y))
            f1 = 2 * tp / (pred.sum() + y.sum())
            if f1 > best:
                best, thr = f1, float(c)
        out[tag] = round(min(max(thr, 0.01), 0.99), 3)
    return out


def resolve(source: str, run_dir: Path | None = None) -> Path:
    """A config name (its run's checkpoint) or a checkpoint path."""
    if run_dir is not None and source in SOURCES:
        return Path(run_dir) / Path(SOURCES[source]).name
    path = Path(SOURCES.get(source, source))
    if not path.is_file():
        raise BridgeError(f"{path}: no checkpoint (train first: cmt-bridge train {source})")
    return path


def export(source: str, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
           command: str = "", data_root: Path | None = None) -> Path:
    import onnx
    import torch

    from .train import load_tagger, predict

    ckpt = resolve(source, run_dir)
    model, state = load_tagger(ckpt)
    cfg = state["config"]
    out = Path(out) if out else default_models_dir() / MODEL_NAME
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "tagger.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 48000),), str(onnx_path), input_names=["audio"],
                          output_names=["logits", "embedding"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"audio": {0: "batch", 1: "samples"}, "logits": {0: "batch"},
                                        "embedding": {0: "batch"}})
    version = f"{cfg['name']}:{state.get('head', cfg['head'])}@{state.get('step', state.get('pretrain_steps', 0))}"
    m = onnx.load(str(onnx_path))
    for k, v in {"name": MODEL_NAME, "version": version, "tags": ",".join(vocab.TAGS),
                 "sample_rate": str(SAMPLE_RATE), "window_seconds": str(WINDOW_SECONDS)}.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(onnx_path))
    valid = data.load("valid", root=data_root)
    probs = 1 / (1 + np.exp(-predict(model, valid["audio"])[0]))
    thresholds = f1_thresholds(valid["labels"], probs)
    emb_dim = int(model.encoder.dim)
    f32 = "float32"
    manifest = {
        "name": MODEL_NAME, "version": version,
        "description": "music tagger (CLMR setting, seed 001): fixed log-mel front end inside the graph + small CNN "
                       f"encoder ({emb_dim}-d embedding) + {state.get('head', cfg['head'])} head over 24 tags",
        "graphs": {"tagger": {
            "file": "tagger.onnx", "sha256": sha256(onnx_path),
            "inputs": {"audio": {"tensor": "audio", "dtype": f32, "shape": ["batch", "samples"],
                                 "doc": f"mono float audio in [-1, 1] at {SAMPLE_RATE} Hz, windows of "
                                        f"{WINDOW_SECONDS} s ({int(SAMPLE_RATE * WINDOW_SECONDS)} samples)"}},
            "outputs": {"logits": {"tensor": "logits", "dtype": f32, "shape": ["batch", len(vocab.TAGS)],
                                   "doc": "per-tag logits in the order of `tags`; sigmoid gives probabilities"},
                        "embedding": {"tensor": "embedding", "dtype": f32, "shape": ["batch", emb_dim],
                                      "doc": "encoder vector (mean and max over time of the last conv block)"}}}},
        "opset": OPSET, "sample_rate": SAMPLE_RATE, "window_seconds": WINDOW_SECONDS,
        "tags": vocab.TAGS, "tag_groups": vocab.TAG_GROUPS,
        "exclusive_groups": ["texture", "tempo", "mode", "dynamics", "articulation"],
        "thresholds": thresholds,
        "thresholds_doc": "F1-optimal probability per tag on the validation clips (unseen pieces of the training "
                          "soundfonts)",
        "label_rules": {"tempo_bpm": [vocab.SLOW_BPM, vocab.FAST_BPM],
                        "density_onsets_per_second": [vocab.SPARSE_RATE, vocab.DENSE_RATE],
                        "register_mean_midi_pitch": [vocab.LOW_PITCH, vocab.HIGH_PITCH],
                        "dynamics_base_velocity": vocab.SOFT_LOUD_VELOCITY,
                        "mode": "Krumhansl-Kessler key profiles on the window's duration-weighted pitch classes"},
        "training": {"config": cfg, "checkpoint": str(ckpt), "head": state.get("head", cfg["head"]),
                     "steps": state.get("step", state.get("pretrain_steps")),
                     "seconds": round(float(state.get("seconds", state.get("pretrain_seconds", 0))), 1),
                     "valid_macro_auc": state.get("valid_macro_auc", (state.get("history") or [{}])[-1]
                                                  .get("valid_macro_auc")),
                     "command": state.get("command"), "export_command": command,
                     "reproduce": "cmt-bridge data prepare tagger && cmt-bridge train tagger --threads 1 && "
                                  "cmt-bridge train tagger-clmr --threads 1 && cmt-bridge export-onnx "
                                  f"{cfg['name']} && python bench/bench_tagger.py --write-manifest",
                     "torch": torch.__version__, "machine": platform.machine()},
        "data": _provenance(data_root),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    bundle = ModelBundle.load(out, threads=1)
    diff = compare(model, bundle, data_root)
    if diff["max_abs"] > tolerance:
        raise BridgeError(f"tagger export differs from torch by {diff['max_abs']:.2e} (> {tolerance:g})")
    gold = bundle.graph("tagger").run(audio=golden_input())
    manifest["validation"] = diff
    manifest["golden"] = {"input": "export.tagger.export.golden_input(): A-minor triad, seeded noise",
                          "logits": np.round(gold["logits"], 6).tolist(),
                          "embedding_first8": np.round(gold["embedding"][:, :8], 6).tolist()}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    log.info("%s: max |torch - onnxruntime| %.2e", out, diff["max_abs"])
    return out


def compare(model, bundle: ModelBundle, data_root: Path | None, n: int = 64) -> dict:
    """max |torch - onnxruntime| on ``n`` held-out test clips (every soundfont), both outputs."""
    import torch

    test = data.load("test", root=data_root)
    pick = np.random.default_rng(0).permutation(len(test["audio"]))[:n]
    audio = test["audio"][pick].astype(np.float32) / 32768.0
    with torch.no_grad():
        lo, em = model(torch.from_numpy(audio))
    got = bundle.graph("tagger").run(audio=audio)
    per = {"logits": float(np.abs(got["logits"] - lo.numpy()).max()),
           "embedding": float(np.abs(got["embedding"] - em.numpy()).max())}
    return {"max_abs": max(per.values()), "per_output": per, "clips": int(len(pick)),
            "inputs": "held-out test clips (unseen pieces; FluidR3, TimGM6mb and MuseScore_General renders)"}


def _provenance(data_root: Path | None) -> dict:
    root = Path(data_root or data.data_dir())
    index = root / "index.json"
    info = json.loads(index.read_text()) if index.is_file() else {}
    info.pop("test_pieces", None)
    return {"source": "music21 corpus (public domain): Bach chorales, Monteverdi, trecento, Josquin, a hashed subset "
                      "of Palestrina (multi-part) and of Ryan's Mammoth Collection (folk tunes, ABC); split by piece",
            "rendering": "pyfluidsynth at 16 kHz: FluidR3_GM.sf2 and TimGM6mb.sf2 (train/valid/test), "
                         "MuseScore_General.sf3 (test only: an unseen soundfont); random GM programs per part from "
                         "8 families, tempo 50-200 BPM (log-uniform), transposition and register shifts, soft "
                         "(velocity 28-60) or loud (88-120), legato or staccato, a generated drum beat in 30 % of "
                         "ensembles; pedalboard reverb / EQ / compression / noise / gain",
            "labels": "from the notes sounding in each 3 s window (export/tagger/vocab.py)",
            "index": info}

"""Export a trained tagger to ``onnx_models/tagger``: tagger.onnx + manifest.json.

Graph ``tagger``: input ``audio`` float32 [batch, samples] (16 kHz mono, 3.0 s
windows = 48000 samples), outputs ``logits`` float32 [batch, 24] (sigmoid gives
probabilities) and ``embedding`` float32 [batch, 512]. The shared pipeline
(export/pipeline.py) exports it (opset 17), embeds metadata, writes the manifest
with F1-optimal thresholds per tag (validation clips), reloads it through
bridge.runtime.ModelBundle, checks parity with torch on 64 held-out test clips
(fails above the tolerance) and times it; the golden outputs of a formula-defined
input (:func:`golden_input`) are added last. Held-out quality
figures are added by ``bench/bench_tagger.py --write-manifest``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle, default_models_dir

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
    """A trained tagger (config name or checkpoint) -> ``out`` (default onnx_models/tagger) through the shared
    pipeline (export/pipeline.py): export, metadata, reload through ModelBundle, parity on held-out clips,
    benchmark, manifest; then the golden outputs of :func:`golden_input`."""
    import torch

    from ..pipeline import ExportPlan, Golden, Graph, export_model, tensor
    from .train import load_tagger, predict

    ckpt = resolve(source, run_dir)
    model, state = load_tagger(ckpt)
    model.eval()
    cfg = state["config"]
    head = state.get("head", cfg["head"])
    version = f"{cfg['name']}:{head}@{state.get('step', state.get('pretrain_steps', 0))}"
    valid = data.load("valid", root=data_root)
    probs = 1 / (1 + np.exp(-predict(model, valid["audio"])[0]))
    emb_dim = int(model.encoder.dim)
    window = int(SAMPLE_RATE * WINDOW_SECONDS)
    f32 = "float32"

    def held_out() -> list:
        """64 held-out test clips (unseen pieces; every soundfont, the unseen one included) and torch's outputs."""
        test = data.load("test", root=data_root)
        pick = np.random.default_rng(0).permutation(len(test["audio"]))[:64]
        audio = test["audio"][pick].astype(np.float32) / 32768.0
        with torch.no_grad():
            lo, em = model(torch.from_numpy(audio))
        return [Golden("tagger", {"audio": audio}, {"logits": lo.numpy(), "embedding": em.numpy()})]

    def golden(folder: Path) -> None:
        """The formula-defined golden input's outputs, for anyone to check a rebuilt or moved file against."""
        bundle = ModelBundle.load(folder, threads=1)
        gold = bundle.graph("tagger").run(audio=golden_input())
        manifest = json.loads((folder / MANIFEST).read_text())
        manifest["golden"] = {"input": "export.tagger.export.golden_input(): A-minor triad, seeded noise",
                              "logits": np.round(gold["logits"], 6).tolist(),
                              "embedding_first8": np.round(gold["embedding"][:, :8], 6).tolist()}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))

    plan = ExportPlan(
        name=MODEL_NAME, config=cfg["name"], version=version,
        description="music tagger (CLMR setting, seed 001): fixed log-mel front end inside the graph + small CNN "
                    f"encoder ({emb_dim}-d embedding) + {head} head over {len(vocab.TAGS)} tags",
        graphs=[Graph("tagger", module=model, args=(torch.zeros(1, window),),
                      inputs={"audio": tensor("audio", f32, ["batch", "samples"],
                                              f"mono float audio in [-1, 1] at {SAMPLE_RATE} Hz, windows of "
                                              f"{WINDOW_SECONDS} s ({window} samples)")},
                      outputs={"logits": tensor("logits", f32, ["batch", len(vocab.TAGS)],
                                                "per-tag logits in the order of `tags`; sigmoid gives probabilities"),
                               "embedding": tensor("embedding", f32, ["batch", emb_dim],
                                                   "encoder vector (mean and max over time of the last conv block)")},
                      dynamic_axes={"audio": {0: "batch", 1: "samples"}, "logits": {0: "batch"},
                                    "embedding": {0: "batch"}})],
        metadata={"tags": ",".join(vocab.TAGS), "sample_rate": str(SAMPLE_RATE), "window_seconds": str(WINDOW_SECONDS)},
        fields={"sample_rate": SAMPLE_RATE, "window_seconds": WINDOW_SECONDS,
                "tags": vocab.TAGS, "tag_groups": vocab.TAG_GROUPS,
                "exclusive_groups": ["texture", "tempo", "mode", "dynamics", "articulation"],
                "thresholds": f1_thresholds(valid["labels"], probs),
                "thresholds_doc": "F1-optimal probability per tag on the validation clips (unseen pieces of the "
                                  "training soundfonts)",
                "label_rules": {"tempo_bpm": [vocab.SLOW_BPM, vocab.FAST_BPM],
                                "density_onsets_per_second": [vocab.SPARSE_RATE, vocab.DENSE_RATE],
                                "register_mean_midi_pitch": [vocab.LOW_PITCH, vocab.HIGH_PITCH],
                                "dynamics_base_velocity": vocab.SOFT_LOUD_VELOCITY,
                                "mode": "Krumhansl-Kessler key profiles on the window's duration-weighted pitch "
                                        "classes"}},
        training={"config": cfg, "checkpoint": str(ckpt), "head": head,
                  "steps": state.get("step", state.get("pretrain_steps")),
                  "seconds": round(float(state.get("seconds", state.get("pretrain_seconds", 0))), 1),
                  "valid_macro_auc": state.get("valid_macro_auc", (state.get("history") or [{}])[-1]
                                               .get("valid_macro_auc")),
                  "command": state.get("command"), "export_command": command,
                  "reproduce": "cmt-bridge data prepare tagger && cmt-bridge train tagger --threads 1 && "
                               "cmt-bridge train tagger-clmr --threads 1 && cmt-bridge export-onnx "
                               f"{cfg['name']} && python bench/bench_tagger.py --write-manifest",
                  "torch": torch.__version__},
        data=_provenance(data_root),
        golden=held_out, diff_key="max_abs", opset=OPSET,
        inputs_doc="64 held-out test clips (unseen pieces; FluidR3, TimGM6mb and MuseScore_General renders)",
        finish=golden,
    )
    folder = export_model(plan, Path(out) if out else default_models_dir() / MODEL_NAME, tolerance=tolerance)
    log.info("%s exported from %s", folder, ckpt)
    return folder


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

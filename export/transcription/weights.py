"""Torch transcription models rebuilt from an exported model folder's ONNX initializers (``--init``).

``runs/`` is not in git, so a shipped model is trained further from its folder:
``cmt-bridge train transcription --init onnx_models/transcription --steps N``.

- **duet** (``duet.onnx``): every parameter and buffer is an initializer under its torch name.
- **solo** (``transcribe.onnx`` and ``synthesize.onnx``): the audio encoder, onset head, audio decoder
  and symbol encoder are initializers under their torch names (prefixed ``m.``); the symbol decoder's
  linear layers were exported as MatMul, their weights transposed, under generated names (matched here
  by shape, which is unique per layer). The two ``logvar`` layers only training uses are in no graph:
  they start at weight 0 and bias :data:`LOGVAR_INIT` (a narrow posterior) and learn again.

The rebuilt model is checked against onnxruntime on held-out-like input (every graph, 1e-4, the
export's tolerance) before training starts.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST

TOLERANCE = 1e-4
LOGVAR_INIT = -4.0


def _initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    if not path.is_file():
        raise BridgeError(f"{path}: missing (--init takes a transcription model folder, e.g. onnx_models/transcription)")
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def _solo_state(folder: Path, model) -> tuple[dict, list[str]]:
    """The solo model's state dict from both graphs; the names no graph holds."""
    inits = {**_initializers(folder / "transcribe.onnx"), **_initializers(folder / "synthesize.onnx")}
    want = model.state_dict()
    state = {k[2:]: v for k, v in inits.items() if k.startswith("m.") and k[2:] in want}
    matmul = {k: v for k, v in inits.items() if not k.startswith("m.") and v.ndim == 2}
    for name in [k for k in want if k.startswith("symbol_decoder.") and k.endswith(".weight")]:
        shape = tuple(want[name].shape[::-1])
        found = [k for k, v in matmul.items() if v.shape == shape]
        if len(found) != 1:
            raise BridgeError(f"{folder}: {len(found)} MatMul weights of shape {shape} for {name} (expected one)")
        state[name] = matmul.pop(found[0]).T
    missing = [k for k in want if k not in state]
    return state, missing


def _widen(state: dict, want: dict) -> list[str]:
    """A folder without fast bands starting a model with them: the input layer's new columns start at weight 0
    (mean 0, std 1 until the trainer sets them), so the model starts as the folder's. -> the widened names."""
    widened = []
    for name in ("audio_encoder.context.weight", "audio_encoder.mean", "audio_encoder.std"):
        have, shape = np.asarray(state[name]), tuple(want[name].shape)
        if have.shape == shape:
            continue
        axis = 1 if have.ndim == 3 else 0
        if have.shape[axis] > shape[axis] or have.ndim != len(shape):
            raise BridgeError(f"{name}: the folder's is {have.shape}, the config's {shape}")
        extra = list(have.shape)
        extra[axis] = shape[axis] - have.shape[axis]
        fill = np.ones(extra, np.float32) if name.endswith(".std") else np.zeros(extra, np.float32)
        state[name] = np.concatenate([have.astype(np.float32), fill], axis=axis)
        widened.append(name)
    return widened


def load_from_folder(model, folder: str | Path, check: bool = True) -> dict:
    """Load ``folder``'s weights into ``model`` (a fresh model of the same config kind); -> a report:
    the folder's step, the names that start fresh, the max |torch - onnxruntime|."""
    import torch

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BridgeError(f"{folder}: not a model folder (no {MANIFEST})")
    manifest = json.loads(manifest_path.read_text())
    cfg = model.cfg
    stored = manifest.get("training", {}).get("config", {})
    for key in ("kind", "audio_hidden", "symbol_hidden", "z_dim", "onset_hidden", "dilations", "past"):
        if key == "past" and not stored.get(key):
            continue   # a folder without past context starts a model with it: the new blocks start as no-ops
        if key in stored and stored[key] != (list(getattr(cfg, key)) if key in ("dilations", "past") else getattr(cfg, key)):
            raise BridgeError(f"{folder}: its {key} is {stored[key]}, config {cfg.name} has {getattr(cfg, key)}")
    if cfg.kind == "duet":
        inits = _initializers(folder / "duet.onnx")
        want = model.state_dict()
        state = {k: v for k, v in inits.items() if k in want}
        missing = [k for k in want if k not in state]
        if missing:
            raise BridgeError(f"{folder}: duet.onnx has no {', '.join(missing)}")
        fresh: list[str] = []
        columns: list[str] = []
    else:
        state, fresh = _solo_state(folder, model)
        columns = _widen(state, model.state_dict())
        unexpected = [k for k in fresh if ".logvar." not in k and not k.startswith("audio_encoder.blocks.")]
        if unexpected:
            raise BridgeError(f"{folder}: the graphs hold no {', '.join(unexpected)}")
        own = model.state_dict()
        for k in fresh:   # logvar: a narrow posterior; past blocks (new in this config): their own init, a no-op
            state[k] = (own[k].numpy() if k.startswith("audio_encoder.blocks.") else
                        np.full(tuple(own[k].shape), 0.0 if k.endswith("weight") else LOGVAR_INIT, np.float32))
    model.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in state.items()})
    report = {"init": str(folder), "step": int(manifest.get("training", {}).get("step", 0)),
              "version": manifest.get("version", ""), "fresh": fresh, "fresh_columns": columns}
    if check:
        report["max_abs"] = _check(model, folder)
    return report


def _check(model, folder: Path) -> float:
    """Max |torch - onnxruntime| over the folder's graphs on seeded spectrum-like input; raises above TOLERANCE."""
    import onnxruntime as ort
    import torch

    from plugins.transcription import features, labels

    rng = np.random.default_rng(0)
    model.eval()
    worst = 0.0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1

    def run(name: str, feeds: dict) -> list[np.ndarray]:
        return ort.InferenceSession(str(folder / name), opts, providers=["CPUExecutionProvider"]).run(None, feeds)

    with torch.no_grad():
        if model.cfg.kind == "duet":
            pad = model.before + model.after
            frames = (model.mean.numpy() + model.std.numpy() * rng.standard_normal((2, 60 + pad, features.N_BINS))
                      ).astype(np.float32)
            outs = [t.numpy() for t in model(torch.from_numpy(frames))]
            got = run("duet.onnx", {"frames": frames})
        else:
            enc = model.audio_encoder
            frames = (enc.mean.numpy() + enc.std.numpy()
                      * rng.standard_normal((2, 60 + model.before + model.after, enc.width))).astype(np.float32)
            o = model.transcribe(torch.from_numpy(frames))
            outs = [o[k].numpy() for k in ("pitch_class", "octave", "dynamics", "instrument", "onset", "z")]
            # a model given past context (its new blocks no-ops) is compared on the frames the folder's graph sees
            ctx = json.loads((folder / MANIFEST).read_text()).get("context", {})
            skip = model.before - int(ctx.get("before", features.CONTEXT_BEFORE))
            width = features.N_BINS + int(json.loads((folder / MANIFEST).read_text()).get("features", {})
                                          .get("fast_bands", 0))
            got = run("transcribe.onnx", {"frames": frames[:, skip:, :width]})
            symbols = np.eye(labels.SYMBOL_SIZE, dtype=np.float32)[rng.integers(0, labels.SYMBOL_SIZE, 8)]
            outs.append(model.synthesize(torch.from_numpy(symbols)).numpy())
            got += run("synthesize.onnx", {"symbols": symbols})
    for a, b in zip(outs, got):
        worst = max(worst, float(np.abs(a - b).max()))
    if worst > TOLERANCE:
        raise BridgeError(f"{folder}: the rebuilt torch model differs from onnxruntime by {worst:.2g} "
                          f"(> {TOLERANCE}): not the same architecture")
    return worst


def checkpoint_from_folder(folder: str | Path) -> dict:
    """A checkpoint's fields rebuilt from model folder ``folder`` (the family's ``from_folder``): the weights
    (:func:`load_from_folder`, checked against onnxruntime), the step and the training config of its manifest.
    ``cmt-bridge average onnx_models/transcription runs/x/model.pt`` averages a shipped model with a run trained
    on from it. The solo model's two ``logvar`` layers are in no graph: they come back at their fresh values
    (training only; inference never reads them)."""
    from dataclasses import fields

    from .configs import TranscriptionConfig, config_from_stored
    from .train import build_model

    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise BridgeError(f"{folder}: not a model folder (no {MANIFEST})")
    stored = json.loads(manifest_path.read_text()).get("training", {}).get("config", {})
    names = {f.name for f in fields(TranscriptionConfig)}
    try:
        cfg = config_from_stored({k: v for k, v in stored.items() if k in names})
    except TypeError as e:
        raise BridgeError(f"{folder}: its manifest's training config is not a transcription config ({e})") from None
    model = build_model(cfg)
    report = load_from_folder(model, folder)
    # the fields as the trainer's checkpoints keep them (config and history as JSON text)
    return {"model": model.state_dict(), "step": report["step"], "config": json.dumps(cfg.to_dict()), "history": "[]"}

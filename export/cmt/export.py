"""Export a trained CMT checkpoint through the shared pipeline (``step.onnx``, ``fields.onnx``, manifest.json).

What is CMT's own: the recurrent ``step`` graph and the ``fields`` graph,
parity over ``VALIDATION_STEPS`` tokens of held-out music (random tokens when
no data is prepared) run through the recurrent ONNX step against torch's
parallel form (the step is timed on the way), the token vocabulary and
instruments, and per-field held-out loss. The folder is what
:meth:`plugins.cmt.sampling.BarSampler.from_bundle` reads.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from bridge.errors import BridgeError
from bridge.runtime import ModelBundle, default_models_dir
from plugins.cmt import tokens as T
from plugins.cmt.parts import DEFAULT_RULES
from plugins.cmt.sampling import EXPECT, MODEL_NAME

from .. import checkpoints
from ..pipeline import OPSET, ExportPlan, Graph, export_model, tensor
from .configs import CONFIGS
from .model import export_fields, export_step, field_offsets
from .train import load_model

log = logging.getLogger(__name__)

VALIDATION_STEPS = 500


def _validation_tokens(data: Path | None, n: int) -> np.ndarray:
    from .data import load_split

    try:
        pieces, _ = load_split("test", data)
    except BridgeError:
        pieces = []
    if pieces:
        tok = np.concatenate(pieces)[:n]
        if len(tok) == n:
            return tok
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, v, n) for v in T.VOCAB_SIZES], axis=1)


def checkpoint_of(source: str | Path, run_dir: Path | None = None) -> Path:
    """A config name's newest checkpoint (in ``run_dir``, default runs/<config>), or ``source`` as a path."""
    if str(source) in CONFIGS:
        run_dir = run_dir or Path("runs") / str(source)
        ckpt = checkpoints.latest_checkpoint(run_dir)
        if ckpt is None:
            raise BridgeError(f"no checkpoint in {run_dir}: train it first (cmt-bridge train {source})")
        return ckpt
    if not Path(source).is_file():
        raise BridgeError(f"{source}: no such checkpoint")
    return Path(source)


def graphs(model) -> list[Graph]:
    """``step`` (recurrent, state in and out) and ``fields`` (second-stage logits), batch axes dynamic."""
    mcfg = model.cfg
    L, H, dk = mcfg.n_layers, mcfg.n_heads, mcfg.d_head
    s_shape, z_shape = [L, "batch", H, dk, dk], [L, "batch", H, dk]
    return [
        Graph("step", exporter=lambda path: export_step(model, path, OPSET),
              inputs={"token": tensor("token", "int64", ["batch", len(T.FIELDS)]),
                      "s": tensor("s", "float32", s_shape), "z": tensor("z", "float32", z_shape)},
              outputs={"type_logits": tensor("type_logits", "float32", ["batch", T.VOCAB["type"]]),
                       "hidden": tensor("hidden", "float32", ["batch", mcfg.d_model]),
                       "s": tensor("s_out", "float32", s_shape), "z": tensor("z_out", "float32", z_shape),
                       "field_logits": tensor("field_logits", "float32", ["batch", 2, sum(mcfg.vocab_sizes[1:])])}),
        Graph("fields", exporter=lambda path: export_fields(model, path, OPSET),
              inputs={"hidden": tensor("hidden", "float32", ["batch", mcfg.d_model]),
                      "token_type": tensor("token_type", "int64", ["batch"])},
              outputs={"logits": tensor("logits", "float32", ["batch", sum(mcfg.vocab_sizes[1:])])}),
    ]


def export(source: str | Path, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
           command: str = "", data: Path | None = None) -> Path:
    checkpoint = checkpoint_of(source, run_dir)
    model, cfg = load_model(checkpoint)
    mcfg = model.cfg
    state = checkpoints.load(checkpoint)
    L, H, dk = mcfg.n_layers, mcfg.n_heads, mcfg.d_head
    plan = ExportPlan(
        name=MODEL_NAME, config=cfg.name, version=f"{cfg.name}@{state['step']}",
        description="CMT (controllable music transformer): compound-word tokens, causal linear attention "
                    "(elu+1), exported as a recurrent step with a fixed-size state",
        graphs=graphs(model), metadata={"config": cfg.name, "step": str(state["step"])},
        fields={"state_shapes": {"s": [L, H, dk, dk], "z": [L, H, dk]},
                "fields": list(T.FIELDS), "vocab": dict(T.VOCAB), "field_offsets": field_offsets(mcfg),
                "steps_per_beat": T.STEPS_PER_BEAT,
                "instruments": [{"name": i.name, "program": i.program, "channel": i.channel} for i in T.INSTRUMENTS],
                # the fixed register / role of each part, applied after sampling (plugins/cmt/parts.py)
                "parts": {name: rule.describe() for name, rule in DEFAULT_RULES.items()},
                "sampling": {"temperature": 1.0, "top_p": 0.95, "control": 1.0}},
        training={"config": cfg.to_dict(), "step": state["step"], "checkpoint": checkpoint.name,
                  "command": state.get("command") or f"cmt-bridge train {cfg.name} --run-dir runs/{cfg.name} --threads 2",
                  "export_command": command or f"cmt-bridge export-onnx {cfg.name}",
                  "torch": torch.__version__, "history": _history_summary(state.get("history", []))},
        data=_provenance(data),
        parity=lambda bundle: validate(model, bundle, _validation_tokens(data, VALIDATION_STEPS)),
        quality=lambda: _held_out(model, cfg, data),
        expect=EXPECT,
    )
    return export_model(plan, Path(out) if out else default_models_dir() / MODEL_NAME, tolerance)


def _history_summary(history: list) -> list:
    """The validation points of the run (step, mean loss): the loss curve in a few lines."""
    return [{"step": h["step"], "loss": round(h["loss"], 4)} for h in history if h.get("kind") == "valid"]


def _provenance(data: Path | None) -> dict:
    from ..data import data_root
    from .data import DATASET, SLOW

    index = (Path(data) if data else data_root() / DATASET) / "index.json"
    if not index.exists():
        return {"dataset": DATASET, "index": "missing"}
    idx = json.loads(index.read_text())
    keep = ("dataset", "source", "files", "pieces", "split", "train_pieces", "valid_pieces", "test_pieces",
            "train_tokens", "valid_tokens", "test_tokens", "train_crc", "valid_crc", "test_crc")
    return {**{k: idx[k] for k in keep if k in idx}, "skipped_pieces": len(idx.get("skipped", {})),
            "left_out_folders": list(SLOW), "prepare_command": "cmt-bridge data prepare cmt"}


def _held_out(model, cfg, data: Path | None, n: int = 64) -> dict:
    """Per-field next-token cross-entropy (nats) on windows of the *test* pieces (never trained on)."""
    from .data import load_split
    from .train import evaluate, windows

    try:
        pieces, _ = load_split("test", data)
    except BridgeError:
        return {}
    if not pieces:
        return {}
    v = evaluate(model, windows(pieces, n, cfg.window + 1, np.random.default_rng(4321)))
    return {"test_windows": n, "test_window_tokens": cfg.window, "test_loss": round(v["loss"], 4),
            **{f"test_{k}": v[k] for k in v if k.startswith("loss_")}}


@torch.no_grad()
def validate(model, bundle: ModelBundle, tokens: np.ndarray) -> dict:
    """ONNX recurrent step vs torch parallel form over ``tokens`` [T, F]: max abs diff of hidden and logits."""
    model.eval()
    step, fields = bundle.graph("step"), bundle.graph("fields")
    (sl, *sshape), (zl, *zshape) = bundle["state_shapes"]["s"], bundle["state_shapes"]["z"]
    s = np.zeros([sl, 1] + sshape, np.float32)
    z = np.zeros([zl, 1] + zshape, np.float32)
    ref = model.hidden(torch.from_numpy(tokens[None]))[0]
    worst, times = 0.0, []
    for t in range(len(tokens)):
        t0 = time.perf_counter()
        o = step.run(token=tokens[None, t], s=s, z=z)
        times.append(time.perf_counter() - t0)
        s, z = o["s"], o["z"]
        worst = max(worst, float(np.abs(o["hidden"][0] - ref[t].numpy()).max()),
                    float(np.abs(o["type_logits"][0] - model.type_head(ref[t]).numpy()).max()))
    ttype = np.array([T.NOTE], np.int64)
    lg = fields.run(hidden=o["hidden"], token_type=ttype)["logits"]
    want = torch.cat(model.fields(torch.from_numpy(o["hidden"]), torch.from_numpy(ttype)), dim=-1).numpy()
    worst = max(worst, float(np.abs(lg - want).max()))
    if "field_logits" in o:   # the step's own second stage (metrical, note) against torch
        for k, kind in enumerate((T.METRICAL, T.NOTE)):
            w = torch.cat(model.fields(torch.from_numpy(o["hidden"]), torch.tensor([kind])), dim=-1).numpy()
            worst = max(worst, float(np.abs(o["field_logits"][:, k] - w).max()))
    return {"steps": len(tokens), "max_abs_diff": worst, "step_ms_onnxruntime": round(float(np.median(times)) * 1e3, 3)}

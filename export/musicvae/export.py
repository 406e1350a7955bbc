"""Export a trained MusicVAE through the shared pipeline (export/pipeline.py).

What is MusicVAE's own: the three step graphs (``encoder``, ``decoder_init``,
``decoder_step``), parity on 64 held-out melodies teacher-forced step by step,
a greedy 2-bar decode timed against torch, held-out accuracy, the golden
outputs a test checks the shipped files with, and, once the manifest is
written, ``decoder_sample`` (the whole decode in one call) built from the step
graphs and checked token for token against them (export/musicvae/sample_graph.py).
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
from plugins.midime.melody import HOLD, MAX_PITCH, MIN_PITCH, NUM_CLASSES, REST, START, STEPS

from .. import checkpoints
from ..pipeline import ExportPlan, Graph, export_model, tensor
from . import configs
from .folk import load_split
from .model import MusicVAE
from .sample_graph import add_to_folder as add_sample_graph
from .train import evaluate

log = logging.getLogger(__name__)


class _Init(torch.nn.Module):
    def __init__(self, m: MusicVAE):
        super().__init__()
        self.m = m

    def forward(self, z):
        return self.m.init_state(z)


class _Step(torch.nn.Module):
    def __init__(self, m: MusicVAE):
        super().__init__()
        self.m = m

    def forward(self, z, prev, state):
        return self.m.step(z, prev, state)


class _Enc(torch.nn.Module):
    def __init__(self, m: MusicVAE):
        super().__init__()
        self.m = m

    def forward(self, melody):
        return self.m.encode(melody)


def load_checkpoint(source: str | Path, run_dir: Path | None = None) -> tuple[MusicVAE, dict, Path]:
    path = Path(source)
    if not path.suffix == ".pt":
        cfg = configs.get(str(source))
        rd = run_dir or Path("runs") / cfg.name
        path = checkpoints.latest_checkpoint(rd)
        if path is None:
            raise BridgeError(f"no checkpoint in {rd}: train it first (cmt-bridge train {cfg.name} --run-dir {rd})")
    if not path.is_file():
        raise BridgeError(f"{path}: no such checkpoint")
    state = checkpoints.load(path)
    d = dict(state["config"])
    d["transpose"] = tuple(d["transpose"])
    cfg = configs.MusicVAEConfig(**d)
    model = MusicVAE(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state, path


def export(source: str | Path, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
           command: str = "") -> Path:
    """A config's newest checkpoint (or a checkpoint file) -> validated model folder, through the pipeline."""
    model, state, ckpt = load_checkpoint(source, run_dir)
    cfg = model.cfg
    out = Path(out) if out else default_models_dir() / cfg.model_name
    test_w, _ = load_split("test", dataset=cfg.dataset)
    which = "held-out test"
    if not len(test_w):   # a small own folder may send no file to test: its training windows stand in
        test_w, _ = load_split("train", dataset=cfg.dataset)
        which = "training (the data has no test split)"
    x = test_w[np.random.default_rng(0).permutation(len(test_w))[:64]]
    pick = np.sort(np.random.default_rng(0).permutation(len(test_w))[:256])
    plan = ExportPlan(
        name=cfg.model_name, config=cfg.name, version=f"{cfg.name}@{state['step']}",
        description="MusicVAE for 2-bar monophonic melodies on a 16th grid (MusicVAE melody classes): "
                    "bidirectional GRU encoder -> z -> autoregressive GRU decoder, exported as step graphs "
                    "(+ decoder_sample: the 32 steps unrolled into one graph)",
        graphs=graphs(model), metadata={"config": cfg.name, "step": str(state["step"])},
        fields={"z_dim": cfg.z_dim, "state_shape": [cfg.dec_layers, cfg.dec_hidden],
                "vocab": {"rest": REST, "hold": HOLD, "min_pitch": MIN_PITCH, "max_pitch": MAX_PITCH,
                          "start": START, "steps": STEPS, "num_classes": NUM_CLASSES, "steps_per_beat": 4},
                "sampling": {"temperature": 0.5}, "golden": golden(model, x[:4])},
        training={"config": cfg.to_dict(), "step": state["step"], "command": state.get("command", ""),
                  "reproduce": f"cmt-bridge data prepare {cfg.dataset} && cmt-bridge train {cfg.name} "
                               f"--run-dir runs/{cfg.name} [--resume] && cmt-bridge export-onnx {cfg.name}",
                  "checkpoint": ckpt.name, "torch": torch.__version__,
                  **({"export_command": command} if command else {})},
        data=_provenance(cfg.dataset),
        parity=lambda bundle: validate(model, bundle, x),
        benchmark=lambda bundle: benchmark(model, bundle, x[:1]),
        quality=lambda: _quality(model, test_w),
        finish=lambda folder: add_sample_graph(
            folder, windows=test_w[pick], windows_from=f"{len(pick)} {which} windows (seed 0)",
            built_by="cmt-bridge export-onnx (export/musicvae/sample_graph.py)"),
    )
    return export_model(plan, out, tolerance)


def graphs(model: MusicVAE) -> list[Graph]:
    """encoder, decoder_init and decoder_step with their semantic tensors (batch axes dynamic)."""
    cfg = model.cfg
    B, L, H, Z = 2, cfg.dec_layers, cfg.dec_hidden, cfg.z_dim
    melody = tensor("melody", "int64", ["batch", STEPS])
    z = tensor("z", "float32", ["batch", Z])
    return [
        Graph("encoder", module=_Enc(model), args=(torch.zeros(B, STEPS, dtype=torch.long),),
              inputs={"melody": melody},
              outputs={"mu": tensor("mu", "float32", ["batch", Z]), "sigma": tensor("sigma", "float32", ["batch", Z])},
              dynamic_axes={"melody": {0: "batch"}, "mu": {0: "batch"}, "sigma": {0: "batch"}}),
        Graph("decoder_init", module=_Init(model), args=(torch.zeros(B, Z),), inputs={"z": z},
              outputs={"state": tensor("state", "float32", [L, "batch", H])},
              dynamic_axes={"z": {0: "batch"}, "state": {1: "batch"}}),
        Graph("decoder_step", module=_Step(model),
              args=(torch.zeros(B, Z), torch.zeros(B, dtype=torch.long), torch.zeros(L, B, H)),
              inputs={"z": z, "prev_token": tensor("prev_token", "int64", ["batch"]),
                      "state": tensor("state", "float32", [L, "batch", H])},
              outputs={"logits": tensor("logits", "float32", ["batch", NUM_CLASSES]),
                       "state": tensor("state_out", "float32", [L, "batch", H])},
              dynamic_axes={"z": {0: "batch"}, "prev_token": {0: "batch"}, "state": {1: "batch"},
                            "logits": {0: "batch"}, "state_out": {1: "batch"}}),
    ]


def _quality(model: MusicVAE, test_w: np.ndarray) -> dict:
    q = evaluate(model, test_w)
    log.info("test acc %.4f (non-hold %.4f)", q["acc"], q["nonhold_acc"])
    return {"split": "test (held-out tunes)", "windows": int(len(test_w)),
            "free_running_acc": round(q["acc"], 4), "nonhold_acc": round(q["nonhold_acc"], 4),
            "all_hold_baseline_acc": round(q["all_hold_acc"], 4),
            "rec_nats_per_step": round(q["rec_nats_per_step"], 4)}


def validate(model: MusicVAE, bundle: ModelBundle, x: np.ndarray) -> dict:
    """Parity: every graph against torch on real melodies, teacher-forced, step by step."""
    xt = torch.from_numpy(x)
    with torch.no_grad():
        mu_t, sg_t = model.encode(xt)
        enc = bundle.graph("encoder").run(melody=x)
        diffs = [np.abs(enc["mu"] - mu_t.numpy()).max(), np.abs(enc["sigma"] - sg_t.numpy()).max()]
        z = mu_t.numpy()
        st_t = model.init_state(mu_t)
        st = bundle.graph("decoder_init").run(z=z)["state"]
        diffs.append(np.abs(st - st_t.numpy()).max())
        prev = np.full(len(x), START, np.int64)
        for t in range(STEPS):
            lo_t, st_t = model.step(mu_t, torch.from_numpy(prev), st_t)
            r = bundle.graph("decoder_step").run(z=z, prev_token=prev, state=st)
            diffs += [np.abs(r["logits"] - lo_t.numpy()).max(), np.abs(r["state"] - st_t.numpy()).max()]
            st = st_t.numpy()  # both continue from torch's state: per-step diffs, not compounding
            prev = x[:, t]
    return {"max_abs_diff": float(max(diffs)), "inputs": f"{len(x)} held-out test windows, teacher-forced steps"}


def _time(fn, n: int = 50) -> float:
    """Mean ms of ``fn()`` over ``n`` calls after one warm-up call."""
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000


def benchmark(model: MusicVAE, bundle: ModelBundle, x1: np.ndarray) -> dict:
    """One greedy 2-bar decode from ``x1``'s posterior mean, onnxruntime step graphs vs torch, one thread each."""
    with torch.no_grad():
        z1 = model.encode(torch.from_numpy(x1))[0].numpy()
    step_g, init_g = bundle.graph("decoder_step"), bundle.graph("decoder_init")

    def ort_decode():
        s = init_g.run(z=z1)["state"]
        p = np.full(1, START, np.int64)
        for _ in range(STEPS):
            r = step_g.run(z=z1, prev_token=p, state=s)
            s, p = r["state"], r["logits"].argmax(-1)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zt = torch.from_numpy(z1)
        t_torch = _time(lambda: model.decode_greedy(zt))
        t_ort = _time(ort_decode)
    finally:
        torch.set_num_threads(threads)
    return {"decode_ms_onnxruntime": round(t_ort, 3), "decode_ms_torch": round(t_torch, 3),
            "decode_speedup_vs_torch": round(t_torch / t_ort, 2), "threads": 1}


@torch.no_grad()
def golden(model: MusicVAE, x: np.ndarray) -> dict:
    """Torch's outputs on fixed held-out melodies, kept in the manifest so a test can check the shipped files."""
    mu, sigma = model.encode(torch.from_numpy(x))
    return {"melody": x.tolist(), "mu": mu.numpy().round(6).tolist(), "sigma": sigma.numpy().round(6).tolist(),
            "greedy_tokens": model.decode_greedy(mu).numpy().tolist()}


def _provenance(dataset: str) -> dict:
    from ..data import data_root

    idx_path = (Path(dataset) if "/" in dataset else data_root() / dataset) / "index.json"
    idx = json.loads(idx_path.read_text()) if idx_path.exists() else {}
    return {"dataset": dataset, "source": idx.get("source", "music21 corpus"),
            "prepare": f"cmt-bridge data prepare {dataset}", "split": idx.get("split"),
            "tunes": idx.get("tunes"), "train_windows": idx.get("train_windows"),
            "valid_windows": idx.get("valid_windows"), "test_windows": idx.get("test_windows"),
            "crc": {k: idx.get(f"{k}_crc") for k in ("train", "valid", "test")},
            "augmentation": "random transposition per window (config 'transpose')"}


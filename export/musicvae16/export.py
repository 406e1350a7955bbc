"""Export a trained 16-bar MusicVAE through the shared pipeline (export/pipeline.py).

Graphs: ``encoder`` (256 tokens -> mu, sigma), ``conductor`` (z -> one
embedding per bar), ``bar_init`` and ``bar_step`` (the bottom decoder), then
``bar_sample`` (one bar in one call, export/musicvae16/bar_graph.py) built
from those two and checked token for token. Parity: every graph against torch
on held-out melodies, teacher-forced; held-out free-running accuracy in the
manifest. Only the hierarchical model is exported (the flat baseline lives in
the bench).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from bridge.errors import BridgeError
from bridge.runtime import ModelBundle, default_models_dir
from plugins.midime import form
from plugins.midime.melody import HOLD, MAX_PITCH, MIN_PITCH, NUM_CLASSES, REST, START, STEPS_PER_BAR

from .. import checkpoints
from ..musicvae.export import _provenance, _time
from ..musicvae.folk import load_split
from ..musicvae.train import evaluate
from ..pipeline import ExportPlan, Graph, export_model, tensor
from . import configs
from .bar_graph import add_to_folder as add_bar_sample
from .model import BARS, MusicVAE16

log = logging.getLogger(__name__)
STEPS = BARS * STEPS_PER_BAR


class _Call(torch.nn.Module):
    """One method of the model as a module to export (the model is a submodule: its weights stay weights)."""

    def __init__(self, model: MusicVAE16, method: str):
        super().__init__()
        self.m, self.method = model, method

    def forward(self, *args):
        return getattr(self.m, self.method)(*args)


def load_checkpoint(source: str | Path, run_dir: Path | None = None) -> tuple[MusicVAE16, dict, Path]:
    path = Path(source)
    if path.suffix != ".pt":
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
    model = MusicVAE16(configs.HierConfig(**d))
    model.load_state_dict(state["model"])
    model.eval()
    return model, state, path


def export(source: str | Path, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4,
           command: str = "") -> Path:
    """A config's newest checkpoint (or a checkpoint file) -> validated model folder."""
    model, state, ckpt = load_checkpoint(source, run_dir)
    cfg = model.cfg
    if cfg.decoder != "hier":
        raise BridgeError(f"{cfg.name} is the flat baseline: it is measured in bench/bench_midime16.py, not exported")
    out = Path(out) if out else default_models_dir() / cfg.model_name
    test_w, _ = load_split("test", dataset=cfg.dataset)
    x = test_w[np.random.default_rng(0).permutation(len(test_w))[:32]]
    pick = np.sort(np.random.default_rng(1).permutation(len(test_w))[:64])
    plan = ExportPlan(
        name=cfg.model_name, config=cfg.name, version=f"{cfg.name}@{state['step']}",
        description="MusicVAE for 16-bar monophonic melodies on a 16th grid (MusicVAE melody classes): "
                    + ("a bidirectional GRU per bar, then one over the 16 bar codes" if cfg.encoder == "bar"
                       else "bidirectional GRU encoder over 256 steps")
                    + " -> z -> conductor GRU (one embedding per bar) -> bar decoder GRU reset every bar "
                    "(hierdec-mel_16bar's design); bar_sample decodes a bar in one call",
        graphs=graphs(model), metadata={"config": cfg.name, "step": str(state["step"])},
        fields={"z_dim": cfg.z_dim, "bars": BARS, "bar_embed": cfg.bar_embed,
                "state_shape": [cfg.dec_layers, cfg.dec_hidden],
                "vocab": {"rest": REST, "hold": HOLD, "min_pitch": MIN_PITCH, "max_pitch": MAX_PITCH,
                          "start": START, "steps": STEPS, "num_classes": NUM_CLASSES, "steps_per_beat": 4},
                "sampling": {"temperature": 0.5, "form": form.CORPUS}, "golden": golden(model, x[:2]),
                "forms": forms_entry(cfg)},
        training={"config": cfg.to_dict(), "step": state["step"], "command": state.get("command", ""),
                  "minutes": round(_seconds(state) / 60, 1),
                  "reproduce": f"cmt-bridge data prepare {cfg.dataset} && cmt-bridge train {cfg.name} "
                               f"--run-dir runs/{cfg.name} --threads 1 [--resume] && "
                               f"cmt-bridge export-onnx {cfg.name}",
                  "checkpoint": ckpt.name, "torch": torch.__version__,
                  **({"export_command": command} if command else {})},
        data=_provenance(cfg.dataset),
        parity=lambda bundle: validate(model, bundle, x),
        benchmark=lambda bundle: benchmark(model, bundle, x[:1]),
        quality=lambda: _quality(model, test_w),
        finish=lambda folder: add_bar_sample(folder, test_w[pick], f"{len(pick)} held-out test windows (seed 1)"),
    )
    return export_model(plan, out, tolerance)


def forms_entry(cfg) -> dict:
    """The training windows' forms (plugins/midime/form.py), counted: what ``form=corpus`` draws from."""
    train_w, _ = load_split("train", dataset=cfg.dataset)
    if cfg.limit_train:
        train_w = train_w[:cfg.limit_train]
    counts = form.count(train_w)
    share = form.Forms(counts).repeat_share()
    return {"definition": f"one letter per bar; a bar repeating an earlier one (at most {form.NEAR} of 16 "
                          f"sixteenths differ) takes its letter",
            "source": f"the {len(train_w)} training windows of {cfg.dataset}", "repeat_share": round(share, 4),
            "counts": counts}


def _seconds(state: dict) -> float:
    return next((h["seconds"] for h in reversed(state.get("history", [])) if "seconds" in h), 0.0)


def graphs(model: MusicVAE16) -> list[Graph]:
    """encoder, conductor, bar_init and bar_step with their semantic tensors (batch axes dynamic)."""
    cfg = model.cfg
    B, L, H, Z, E = 2, cfg.dec_layers, cfg.dec_hidden, cfg.z_dim, cfg.bar_embed
    z = tensor("z", "float32", ["batch", Z])
    c = tensor("c", "float32", ["batch", E], "one bar's embedding from the conductor")
    state = tensor("state", "float32", [L, "batch", H])
    return [
        Graph("encoder", module=_Call(model, "encode"), args=(torch.zeros(B, STEPS, dtype=torch.long),),
              inputs={"melody": tensor("melody", "int64", ["batch", STEPS])},
              outputs={"mu": tensor("mu", "float32", ["batch", Z]), "sigma": tensor("sigma", "float32", ["batch", Z])},
              dynamic_axes={"melody": {0: "batch"}, "mu": {0: "batch"}, "sigma": {0: "batch"}}),
        Graph("conductor", module=_Call(model, "conduct"), args=(torch.zeros(B, Z),), inputs={"z": z},
              outputs={"bars": tensor("bars", "float32", ["batch", BARS, E])},
              dynamic_axes={"z": {0: "batch"}, "bars": {0: "batch"}}),
        Graph("bar_init", module=_Call(model, "init_state"), args=(torch.zeros(B, E),), inputs={"c": c},
              outputs={"state": state}, dynamic_axes={"c": {0: "batch"}, "state": {1: "batch"}}),
        Graph("bar_step", module=_Call(model, "step"),
              args=(torch.zeros(B, E), torch.zeros(B, dtype=torch.long), torch.zeros(L, B, H)),
              inputs={"c": c, "prev_token": tensor("prev_token", "int64", ["batch"]), "state": state},
              outputs={"logits": tensor("logits", "float32", ["batch", NUM_CLASSES]),
                       "state": tensor("state_out", "float32", [L, "batch", H])},
              dynamic_axes={"c": {0: "batch"}, "prev_token": {0: "batch"}, "state": {1: "batch"},
                            "logits": {0: "batch"}, "state_out": {1: "batch"}}),
    ]


def _quality(model: MusicVAE16, test_w: np.ndarray) -> dict:
    q = evaluate(model, test_w)
    log.info("test acc %.4f (non-hold %.4f)", q["acc"], q["nonhold_acc"])
    return {"split": "test (held-out tunes)", "windows": int(len(test_w)),
            "free_running_acc": round(q["acc"], 4), "nonhold_acc": round(q["nonhold_acc"], 4),
            "all_hold_baseline_acc": round(q["all_hold_acc"], 4),
            "rec_nats_per_step": round(q["rec_nats_per_step"], 4)}


def validate(model: MusicVAE16, bundle: ModelBundle, x: np.ndarray) -> dict:
    """Parity: every graph against torch on real melodies, teacher-forced, bar by bar and step by step."""
    xt = torch.from_numpy(x)
    with torch.no_grad():
        mu_t, sg_t = model.encode(xt)
        enc = bundle.graph("encoder").run(melody=x)
        diffs = [np.abs(enc["mu"] - mu_t.numpy()).max(), np.abs(enc["sigma"] - sg_t.numpy()).max()]
        bars_t = model.conduct(mu_t)
        bars = bundle.graph("conductor").run(z=mu_t.numpy())["bars"]
        diffs.append(np.abs(bars - bars_t.numpy()).max())
        prev = np.full(len(x), START, np.int64)
        for bar in range(BARS):
            c_t = bars_t[:, bar]
            c = c_t.numpy()
            st_t = model.init_state(c_t)
            st = bundle.graph("bar_init").run(c=c)["state"]
            diffs.append(np.abs(st - st_t.numpy()).max())
            for t in range(bar * STEPS_PER_BAR, (bar + 1) * STEPS_PER_BAR):
                lo_t, st_t = model.step(c_t, torch.from_numpy(prev), st_t)
                r = bundle.graph("bar_step").run(c=c, prev_token=prev, state=st)
                diffs += [np.abs(r["logits"] - lo_t.numpy()).max(), np.abs(r["state"] - st_t.numpy()).max()]
                st = st_t.numpy()
                prev = x[:, t]
    return {"max_abs_diff": float(max(diffs)), "inputs": f"{len(x)} held-out test windows, teacher-forced steps"}


def benchmark(model: MusicVAE16, bundle: ModelBundle, x1: np.ndarray) -> dict:
    """One greedy 16-bar decode, onnxruntime step graphs vs torch, one thread each."""
    from plugins.midime.vae16 import MusicVAE16 as Runtime

    vae = Runtime(bundle)
    with torch.no_grad():
        z1 = model.encode(torch.from_numpy(x1))[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_torch = _time(lambda: model.decode_greedy(z1), 10)
        t_ort = _time(lambda: vae.decode_noise(z1.numpy(), 0.0, None, graph=False), 10)
    finally:
        torch.set_num_threads(threads)
    return {"decode_ms_onnxruntime_steps": round(t_ort, 3), "decode_ms_torch": round(t_torch, 3), "threads": 1}


@torch.no_grad()
def golden(model: MusicVAE16, x: np.ndarray) -> dict:
    """Torch's outputs on fixed held-out melodies, kept in the manifest so a test can check the shipped files."""
    mu, sigma = model.encode(torch.from_numpy(x))
    return {"melody": x.tolist(), "mu": mu.numpy().round(6).tolist(), "sigma": sigma.numpy().round(6).tolist(),
            "greedy_tokens": model.decode_greedy(mu).numpy().tolist()}

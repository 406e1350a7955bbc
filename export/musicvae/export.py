"""Export a trained MusicVAE to validated ONNX graphs + manifest.json.

Export -> embed metadata -> reload from disk in onnxruntime -> compare with
torch on held-out melodies (max abs diff into the manifest; above the tolerance
the export fails) -> time torch against onnxruntime -> write the manifest with
sha256, opset, config, training command, data provenance and quality figures
-> build ``decoder_sample`` (the whole decode in one call) from the step graphs
and check it token for token against them (export/musicvae_sample.py).
"""
from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path

import numpy as np
import torch

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle, default_models_dir, sha256
from plugins.midime.melody import HOLD, MAX_PITCH, MIN_PITCH, NUM_CLASSES, REST, START, STEPS

from . import configs
from .folk_data import load_split
from .musicvae import MusicVAE
from .musicvae_sample import add_to_folder as add_sample_graph
from .train import evaluate, latest_checkpoint

log = logging.getLogger(__name__)
OPSET = 17
SHIPPED = ("musicvae-mel2bar",)


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
        path = latest_checkpoint(rd)
        if path is None:
            raise BridgeError(f"no checkpoint in {rd}: train it first (cmt-bridge train {cfg.name} --run-dir {rd})")
    if not path.is_file():
        raise BridgeError(f"{path}: no such checkpoint")
    state = torch.load(path, weights_only=False)
    d = dict(state["config"])
    d["transpose"] = tuple(d["transpose"])
    cfg = configs.MusicVAEConfig(**d)
    model = MusicVAE(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state, path


def _export_graph(module, args, path: Path, inputs, outputs, dynamic, meta: dict) -> None:
    import onnx

    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                      opset_version=OPSET, dynamo=False)
    m = onnx.load(str(path))
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v if isinstance(v, str) else json.dumps(v)
    onnx.save(m, str(path))


def _time(fn, n: int = 50) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1000


def export(source: str | Path, out: Path | None = None, run_dir: Path | None = None, tolerance: float = 1e-4) -> Path:
    model, state, ckpt = load_checkpoint(source, run_dir)
    cfg = model.cfg
    out = Path(out) if out else default_models_dir() / cfg.model_name
    out.mkdir(parents=True, exist_ok=True)
    B, L, H, Z = 2, cfg.dec_layers, cfg.dec_hidden, cfg.z_dim
    meta = {"name": cfg.model_name, "config": cfg.name, "step": str(state["step"])}
    specs = {
        "encoder": ("encoder.onnx", _Enc(model), (torch.zeros(B, STEPS, dtype=torch.long),),
                    ["melody"], ["mu", "sigma"], {"melody": {0: "batch"}, "mu": {0: "batch"}, "sigma": {0: "batch"}}),
        "decoder_init": ("decoder_init.onnx", _Init(model), (torch.zeros(B, Z),), ["z"], ["state"],
                         {"z": {0: "batch"}, "state": {1: "batch"}}),
        "decoder_step": ("decoder_step.onnx", _Step(model),
                         (torch.zeros(B, Z), torch.zeros(B, dtype=torch.long), torch.zeros(L, B, H)),
                         ["z", "prev_token", "state"], ["logits", "state_out"],
                         {"z": {0: "batch"}, "prev_token": {0: "batch"}, "state": {1: "batch"},
                          "logits": {0: "batch"}, "state_out": {1: "batch"}}),
    }
    shapes = {"melody": ("int64", ["batch", STEPS]), "mu": ("float32", ["batch", Z]), "sigma": ("float32", ["batch", Z]),
              "z": ("float32", ["batch", Z]), "state": ("float32", [L, "batch", H]),
              "prev_token": ("int64", ["batch"]), "logits": ("float32", ["batch", NUM_CLASSES]),
              "state_out": ("float32", [L, "batch", H])}
    graphs = {}
    with torch.no_grad():
        for gname, (fname, mod, args, ins, outs, dyn) in specs.items():
            _export_graph(mod, args, out / fname, ins, outs, dyn, {**meta, "graph": gname})
            sem_out = {("state" if o == "state_out" else o): o for o in outs}
            graphs[gname] = {"file": fname, "sha256": sha256(out / fname),
                             "inputs": {i: {"tensor": i, "dtype": shapes[i][0], "shape": shapes[i][1]} for i in ins},
                             "outputs": {s: {"tensor": o, "dtype": shapes[o][0], "shape": shapes[o][1]}
                                         for s, o in sem_out.items()}}
    manifest = {
        "name": cfg.model_name, "version": f"{cfg.name}@{state['step']}",
        "description": "MusicVAE for 2-bar monophonic melodies on a 16th grid (MusicVAE melody classes): "
                       "bidirectional GRU encoder -> z -> autoregressive GRU decoder, exported as step graphs "
                       "(+ decoder_sample: the 32 steps unrolled into one graph)",
        "graphs": graphs, "opset": OPSET, "z_dim": Z, "state_shape": [L, H],
        "vocab": {"rest": REST, "hold": HOLD, "min_pitch": MIN_PITCH, "max_pitch": MAX_PITCH, "start": START,
                  "steps": STEPS, "num_classes": NUM_CLASSES, "steps_per_beat": 4},
        "sampling": {"temperature": 0.5},
        "training": {"config": cfg.to_dict(), "step": state["step"], "command": state.get("command", ""),
                     "reproduce": f"cmt-bridge data prepare {cfg.dataset} && cmt-bridge train {cfg.name} "
                                  f"--run-dir runs/{cfg.name} [--resume] && cmt-bridge export-onnx {cfg.name}",
                     "checkpoint": ckpt.name, "torch": torch.__version__, "machine": platform.machine()},
        "data": _provenance(cfg.dataset),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    # reload through the host's own wrapper and compare with torch on held-out melodies
    bundle = ModelBundle.load(out, threads=1)
    test_w, _ = load_split("test")
    x = test_w[np.random.default_rng(0).permutation(len(test_w))[:64]]
    report = validate(model, bundle, x)
    if report["max_abs_diff"] > tolerance:
        raise BridgeError(f"export of {cfg.name} differs from torch by {report['max_abs_diff']:.2e} "
                          f"(> tolerance {tolerance:g}): not written as valid")
    quality = evaluate(model, test_w)
    manifest["validation"] = report
    manifest["golden"] = golden(model, x[:4])
    manifest["quality"] = {"split": "test (held-out tunes)", "windows": int(len(test_w)),
                           "free_running_acc": round(quality["acc"], 4),
                           "nonhold_acc": round(quality["nonhold_acc"], 4),
                           "all_hold_baseline_acc": round(quality["all_hold_acc"], 4),
                           "rec_nats_per_step": round(quality["rec_nats_per_step"], 4)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    log.info("%s: max |torch - onnxruntime| %.2e; decode %.2f ms ort vs %.2f ms torch; test acc %.4f (non-hold %.4f)",
             cfg.model_name, report["max_abs_diff"], report["decode_ms_onnxruntime"], report["decode_ms_torch"],
             quality["acc"], quality["nonhold_acc"])
    # the 32 decoder steps as one graph, made from the step graphs just written and checked token for token
    pick = np.sort(np.random.default_rng(0).permutation(len(test_w))[:256])
    add_sample_graph(out, windows=test_w[pick], windows_from=f"{len(pick)} held-out test windows (seed 0)",
                     built_by="cmt-bridge export-onnx (export/musicvae_sample.py)")
    return out


def validate(model: MusicVAE, bundle: ModelBundle, x: np.ndarray) -> dict:
    """Compare every graph with torch on real melodies; time a greedy 2-bar decode both ways."""
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
    z1 = z[:1]
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
    return {"max_abs_diff": float(max(diffs)), "inputs": "64 held-out test windows, teacher-forced steps",
            "decode_ms_onnxruntime": round(t_ort, 3), "decode_ms_torch": round(t_torch, 3),
            "decode_speedup_vs_torch": round(t_torch / t_ort, 2), "threads": 1}


@torch.no_grad()
def golden(model: MusicVAE, x: np.ndarray) -> dict:
    """Torch's outputs on fixed held-out melodies, kept in the manifest so a test can check the shipped files."""
    mu, sigma = model.encode(torch.from_numpy(x))
    return {"melody": x.tolist(), "mu": mu.numpy().round(6).tolist(), "sigma": sigma.numpy().round(6).tolist(),
            "greedy_tokens": model.decode_greedy(mu).numpy().tolist()}


def _provenance(dataset: str) -> dict:
    from .folk_data import data_root

    idx_path = data_root() / dataset / "index.json"
    idx = json.loads(idx_path.read_text()) if idx_path.exists() else {}
    return {"dataset": dataset, "source": idx.get("source", "music21 corpus"),
            "prepare": f"cmt-bridge data prepare {dataset}", "split": idx.get("split"),
            "tunes": idx.get("tunes"), "train_windows": idx.get("train_windows"),
            "valid_windows": idx.get("valid_windows"), "test_windows": idx.get("test_windows"),
            "crc": {k: idx.get(f"{k}_crc") for k in ("train", "valid", "test")},
            "augmentation": "random transposition per window (config 'transpose')"}


def export_all(tolerance: float = 1e-4) -> list[Path]:
    return [export(name, tolerance=tolerance) for name in SHIPPED]

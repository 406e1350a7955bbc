"""A torch :class:`~export.musicvae.MusicVAE` rebuilt from an exported model folder's ONNX initializers.

For when the training checkpoint is gone (``runs/`` is not in git) but torch is
still wanted, e.g. as the eager baseline of ``bench/bench_midime.py``. The
config comes from the manifest; every weight from ``encoder.onnx``,
``decoder_init.onnx`` and ``decoder_step.onnx``. ONNX GRU weights are stored
per direction as W [3H, in], R [3H, H], B = [Wb, Rb] with gates in the order
z, r, h (torch: r, z, n; torch exports with linear_before_reset=1, the same
cell as torch's). The rebuilt model is checked against onnxruntime on the
folder's golden melodies: it must reproduce what the original torch model gave
at export time (the manifest's ``golden`` mu, sigma and greedy tokens) to 1e-5,
and onnxruntime's outputs of every graph (teacher-forced steps) to 1e-4, the
export's tolerance (measured for musicvae-mel2bar: 5.4e-7 and 9.5e-6).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, ModelBundle
from plugins.midime.melody import START

from . import configs
from .model import MusicVAE
from .sample_graph import decoder_weights

TOLERANCE = 1e-5  # against torch's own outputs at export time (manifest "golden", rounded to 1e-6)
ORT_TOLERANCE = 1e-4  # against onnxruntime: kernels differ (the export's own tolerance)


def _torch_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX gate blocks (z, r, h) along axis 0 -> torch's (r, z, n)."""
    z, r, h = a[:hidden], a[hidden:2 * hidden], a[2 * hidden:3 * hidden]
    return np.concatenate([r, z, h], axis=0)


def _encoder_weights(folder: Path) -> dict:
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(folder / "encoder.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    nodes = list(m.graph.node)
    grus = [n for n in nodes if n.op_type == "GRU"]
    if len(grus) != 1:
        raise BridgeError(f"{folder.name}: expected one (bidirectional) GRU in encoder.onnx, found {len(grus)}")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in grus[0].attribute}
    if attrs.get("direction") not in (b"bidirectional", "bidirectional") or attrs.get("linear_before_reset") != 1:
        raise BridgeError(f"{folder.name}: unexpected encoder GRU attributes {attrs}")
    w = {"gru": tuple(inits[grus[0].input[i]] for i in (1, 2, 3))}
    emb = [n for n in nodes if n.op_type == "Gather" and n.input[0] in inits]
    w["embed"] = inits[emb[0].input[0]]
    for n in nodes:
        if n.op_type != "Gemm":
            continue
        name = "to_mu" if n.output[0] == "mu" else "to_sigma"
        w[name] = (inits[n.input[1]], inits[n.input[2]])
    if "to_mu" not in w or "to_sigma" not in w:
        raise BridgeError(f"{folder.name}: encoder.onnx has no mu / sigma layers")
    return w


def model_from_onnx(folder: str | Path, check: bool = True) -> tuple[MusicVAE, dict]:
    """-> (the torch model in eval mode, a report with the max |torch - onnxruntime| over every graph)."""
    folder = Path(folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    d = dict(manifest["training"]["config"])
    d["transpose"] = tuple(d["transpose"])
    cfg = configs.MusicVAEConfig(**d)
    model = MusicVAE(cfg)
    enc, dec = _encoder_weights(folder), decoder_weights(folder)
    if not np.array_equal(enc["embed"], dec["embed"]):
        raise BridgeError(f"{folder.name}: encoder and decoder embeddings differ (one shared table in torch)")
    he, hd = cfg.enc_hidden, cfg.dec_hidden
    state = {"embed.weight": dec["embed"],
             "to_mu.weight": enc["to_mu"][0], "to_mu.bias": enc["to_mu"][1],
             "to_sigma.weight": enc["to_sigma"][0], "to_sigma.bias": enc["to_sigma"][1],
             "z_to_state.weight": dec["init_w"], "z_to_state.bias": dec["init_b"],
             "out.weight": dec["out_w"], "out.bias": dec["out_b"]}
    W, R, B = enc["gru"]
    for k, suffix in enumerate(("", "_reverse")):
        state[f"encoder.weight_ih_l0{suffix}"] = _torch_gates(W[k], he)
        state[f"encoder.weight_hh_l0{suffix}"] = _torch_gates(R[k], he)
        state[f"encoder.bias_ih_l0{suffix}"] = _torch_gates(B[k][:3 * he], he)
        state[f"encoder.bias_hh_l0{suffix}"] = _torch_gates(B[k][3 * he:], he)
    if len(dec["gru"]) != cfg.dec_layers:
        raise BridgeError(f"{folder.name}: {len(dec['gru'])} decoder GRU layers, config says {cfg.dec_layers}")
    for layer, (W, R, B) in enumerate(dec["gru"]):
        state[f"decoder.weight_ih_l{layer}"] = _torch_gates(W, hd)
        state[f"decoder.weight_hh_l{layer}"] = _torch_gates(R, hd)
        state[f"decoder.bias_ih_l{layer}"] = _torch_gates(B[:3 * hd], hd)
        state[f"decoder.bias_hh_l{layer}"] = _torch_gates(B[3 * hd:], hd)
    want = model.state_dict()
    if set(state) != set(want):
        raise BridgeError(f"{folder.name}: rebuilt weights {sorted(set(state) ^ set(want))} do not fit the model")
    for k, v in state.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise BridgeError(f"{folder.name}: {k} has shape {list(v.shape)}, the config needs {list(want[k].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.array(v, np.float32)) for k, v in state.items()})
    model.eval()
    report = {"source": f"ONNX initializers of {folder.name}/ (encoder, decoder_init, decoder_step)"}
    if check:
        gold = manifest["golden"]
        report.update(compare(model, ModelBundle.load(folder, threads=1), np.array(gold["melody"])))
        with torch.no_grad():
            mu, sigma = model.encode(torch.tensor(gold["melody"]))
            report["golden_max_abs_diff"] = float(max(np.abs(mu.numpy() - np.array(gold["mu"])).max(),
                                                      np.abs(sigma.numpy() - np.array(gold["sigma"])).max()))
            report["golden_greedy_tokens_identical"] = bool(
                (model.decode_greedy(mu).numpy() == np.array(gold["greedy_tokens"])).all())
        if report["golden_max_abs_diff"] > TOLERANCE or not report["golden_greedy_tokens_identical"]:
            raise BridgeError(f"{folder.name}: torch rebuilt from the ONNX does not reproduce the torch outputs stored "
                              f"at export (max diff {report['golden_max_abs_diff']:.2e}, tolerance {TOLERANCE:g})")
        if report["max_abs_diff"] > ORT_TOLERANCE:
            raise BridgeError(f"{folder.name}: torch rebuilt from the ONNX differs from onnxruntime by "
                              f"{report['max_abs_diff']:.2e} (> {ORT_TOLERANCE:g})")
    return model, report


@torch.no_grad()
def compare(model: MusicVAE, bundle: ModelBundle, x: np.ndarray) -> dict:
    """max |torch - onnxruntime| over encoder, decoder_init and teacher-forced decoder_step on melodies ``x``."""
    x = np.asarray(x, np.int64)
    mu, sigma = model.encode(torch.from_numpy(x))
    enc = bundle.graph("encoder").run(melody=x)
    diffs = [np.abs(enc["mu"] - mu.numpy()).max(), np.abs(enc["sigma"] - sigma.numpy()).max()]
    z = enc["mu"]
    st_t = model.init_state(torch.from_numpy(z))
    st = bundle.graph("decoder_init").run(z=z)["state"]
    diffs.append(np.abs(st - st_t.numpy()).max())
    prev = np.full(len(x), START, np.int64)
    for t in range(x.shape[1]):
        lo_t, st_t = model.step(torch.from_numpy(z), torch.from_numpy(prev), st_t)
        r = bundle.graph("decoder_step").run(z=z, prev_token=prev, state=st)
        diffs += [np.abs(r["logits"] - lo_t.numpy()).max(), np.abs(r["state"] - st_t.numpy()).max()]
        st, prev = st_t.numpy(), x[:, t]  # both continue from torch's state: per-step diffs, not compounding
    same = bool((model.decode_greedy(torch.from_numpy(z)).numpy() == _ort_greedy(bundle, z)).all())
    return {"max_abs_diff": float(max(diffs)), "greedy_tokens_identical": same,
            "compared_on": f"the manifest's {len(x)} golden melodies, every graph, teacher-forced steps"}


def _ort_greedy(bundle: ModelBundle, z: np.ndarray) -> np.ndarray:
    state = bundle.graph("decoder_init").run(z=z)["state"]
    steps = int(bundle.manifest["vocab"]["steps"])
    prev = np.full(len(z), int(bundle.manifest["vocab"]["start"]), np.int64)
    out = []
    for _ in range(steps):
        r = bundle.graph("decoder_step").run(z=z, prev_token=prev, state=state)
        state, prev = r["state"], r["logits"].argmax(-1)
        out.append(prev)
    return np.stack(out, 1)


def checkpoint_from_folder(folder: str | Path) -> dict:
    """A checkpoint's fields rebuilt from model folder ``folder`` (the family's ``from_folder``), for
    ``cmt-bridge average onnx_models/musicvae-mel2bar runs/mine/model.pt``: the shipped model and a run
    fine-tuned from it (``train --init``), averaged, keep more of what the shipped one learned."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise BridgeError(f"{folder}: not a model folder (no {MANIFEST})")
    model, _ = model_from_onnx(folder)
    training = json.loads((folder / MANIFEST).read_text())["training"]
    return {"model": model.state_dict(), "step": int(training.get("step", 0)), "config": dict(training["config"]),
            "history": []}

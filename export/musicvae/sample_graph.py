"""``decoder_sample``: the whole 2-bar MusicVAE decode (32 autoregressive steps) as ONE onnxruntime call.

    python -m export.musicvae.sample_graph onnx_models/musicvae-mel2bar      # add it to an existing model folder

Built from the folder's own ``decoder_init`` + ``decoder_step`` graphs (their
initializers, read with ``onnx``; no torch, no checkpoint), so it can be added
to a shipped folder and is also run by ``cmt-bridge export-onnx``. Inputs
``z`` f32 [B, Z], ``noise`` f32 [B, 32, C] and ``temperature`` f32 [1];
output ``tokens`` int64 [B, 32] with, at every step,
``token_t = argmax(logits_t + temperature * noise[:, t])`` fed back as the
next step's input. With Gumbel noise that is Gumbel-max sampling of
softmax(logits / T) (argmax(logits / T + g) = argmax(logits + T g) for T > 0);
temperature 0 is argmax. (Scaling the noise rather than the logits keeps the
weights independent of T and needs no 1 / T.)

The 32 steps are unrolled and share one set of initializers. Everything that
depends on z only is computed once per call (initial state, z's share of the
first GRU layer's input gates, z's share of the output layer, folded into the
noise), the token's share of the first layer's input gates is a table
(embedding @ W), and each GRU cell is written out as Gemm + Sigmoid/Tanh/Mul/Add
(onnxruntime's GRU op with sequence length 1 was no faster: the same per cell,
10 - 20 % slower over the whole decode). Where the time goes, measured on the 2-core Xeon (2 MB
L2 per core) beside a training run: each step streams 2.4 MB of f32 weights
(R of layer 0, W and R of layer 1, the output layer), more than L2 holds, so
they come from L3 (~28 GB/s on one core: ~2.7 ms per decode), plus ~25 small
nodes per step (~1 us each). Sharing the weights so they fit L2 cut a decode
from 4.0 to 2.9 ms (a timing ablation only); fusing to two Gemms per step,
reordering the Gemms across steps and onnxruntime's session options changed
nothing measurable. Smaller weights (fp16/int8) would change the tokens.

Every decision is checked: on real melodies, greedy and with fixed Gumbel
noise, the tokens must equal the step-by-step loop over ``decoder_step``; the
result goes into the manifest (``graphs.decoder_sample``, ``validation.decoder_sample``).
The other graph files are not touched (the MidiMe fingerprint ignores
``decoder_sample``, so personal ``.midime`` files stay valid).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.runtime import MANIFEST, sha256

log = logging.getLogger(__name__)

GRAPH = "decoder_sample"
FILE = "decoder_sample.onnx"
OPSET = 17


# -- the weights of the step graphs --------------------------------------------------------------
def decoder_weights(folder: Path, init: str = "decoder_init", step: str = "decoder_step", cond: str = "z") -> dict:
    """The decoder's weights from ``decoder_init.onnx`` and ``decoder_step.onnx`` (as exported from torch;
    the 16-bar model's ``bar_init`` / ``bar_step``, conditioned on ``cond`` = the bar embedding ``c``).

    -> {"init_w" [L*H, Z], "init_b", "embed" [V+1, E], "gru": [(W [3H, in], R [3H, H], B [6H]) per layer,
    ONNX gate order z, r, h, linear_before_reset], "out_w" [C, H + Z], "out_b"}. The graph structure the
    host relies on is checked, not assumed: a differently wired export is an error.
    """
    import onnx
    from onnx import numpy_helper

    def load(name):
        m = onnx.load(str(folder / f"{name}.onnx"))
        return m.graph, {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}

    gi, wi = load(init)
    gs, ws = load(step)

    def only(graph, op):
        nodes = [n for n in graph.node if n.op_type == op]
        if len(nodes) != 1:
            raise BridgeError(f"{folder.name}: expected one {op} in the graph, found {len(nodes)}")
        return nodes[0]

    def attrs(node):
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def gemm(node, inits):
        a = attrs(node)
        if a.get("transB") != 1 or a.get("transA", 0) != 0 or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise BridgeError(f"{folder.name}: unexpected Gemm attributes {a}")
        return inits[node.input[1]], inits[node.input[2]]

    w: dict = {}
    w["init_w"], w["init_b"] = gemm(only(gi, "Gemm"), wi)
    if not any(n.op_type == "Tanh" for n in gi.node):
        raise BridgeError(f"{folder.name}: decoder_init has no Tanh")
    emb = [n for n in gs.node if n.op_type == "Gather" and n.input[0] in ws]
    if len(emb) != 1:
        raise BridgeError(f"{folder.name}: expected one embedding Gather in decoder_step")
    w["embed"] = ws[emb[0].input[0]]
    concat = [n for n in gs.node if n.op_type == "Concat" and emb[0].output[0] in n.input]
    if len(concat) != 1 or list(concat[0].input) != [emb[0].output[0], cond]:
        raise BridgeError(f"{folder.name}: {step}'s GRU input is not concat(embedding, {cond})")
    w["gru"] = []
    for g in (n for n in gs.node if n.op_type == "GRU"):
        a = attrs(g)
        if a.get("linear_before_reset") != 1 or a.get("direction", b"forward") not in (b"forward", "forward") \
                or a.get("activations") or a.get("clip"):
            raise BridgeError(f"{folder.name}: unexpected GRU attributes {a}")
        W, R, B = (ws[g.input[i]] for i in (1, 2, 3))
        w["gru"].append((W[0], R[0], B[0]))
    out = only(gs, "Gemm")
    out_in = [n for n in gs.node if n.output[0] == out.input[0]]
    if len(out_in) != 1 or out_in[0].op_type != "Concat" or out_in[0].input[-1] != cond:
        raise BridgeError(f"{folder.name}: {step}'s output layer input is not concat(y, {cond})")
    w["out_w"], w["out_b"] = gemm(out, ws)
    L, H, Z, E = len(w["gru"]), w["gru"][0][1].shape[1], w["init_w"].shape[1], w["embed"].shape[1]
    if w["init_w"].shape[0] != L * H or w["gru"][0][0].shape[1] != E + Z or w["out_w"].shape[1] != H + Z:
        raise BridgeError(f"{folder.name}: decoder shapes do not fit together (L {L}, H {H}, Z {Z}, E {E})")
    return w


# -- the unrolled graph --------------------------------------------------------------------------------
class _Builder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.k = 0

    def const(self, name: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.array(arr, order="C"), name))
        return name

    def op(self, op: str, *ins: str, n_out: int = 1, **attrs):
        from onnx import helper

        self.k += 1
        outs = [f"{op}_{self.k}" if n_out == 1 else f"{op}_{self.k}_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, list(ins), outs, **attrs))
        return outs[0] if n_out == 1 else outs


def build(w: dict, steps: int, start: int | None, meta: dict | None = None, name: str = GRAPH, cond: str = "z"):
    """The unrolled ``decoder_sample`` ModelProto for the weights of :func:`decoder_weights`.

    ``start`` None: the first input token is the graph input ``prev_token`` int64 [B] (the 16-bar
    model's ``bar_sample``: a bar starts from the previous bar's last token); ``cond`` names the
    conditioning input (``z``, or the bar embedding ``c``)."""
    import onnx
    from onnx import TensorProto, helper

    f32, f64 = np.float32, np.float64
    gru = w["gru"]
    L, H = len(gru), gru[0][1].shape[1]
    Z, E = w["init_w"].shape[1], w["embed"].shape[1]
    C = w["out_w"].shape[0]
    g = _Builder()
    i64 = lambda *v: np.array(v, np.int64)  # noqa: E731

    # z-only parts, once per call: initial state (decoder_init), z's share of layer 0's input gates and of the logits
    init = g.op("Tanh", g.op("Gemm", cond, g.const("init_w", w["init_w"]), g.const("init_b", w["init_b"]), transB=1))
    h = list(g.op("Split", init, g.const("split_layers", np.full(L, H, np.int64)), axis=1, n_out=L)) if L > 1 \
        else [init]
    W0, R0, B0 = gru[0]
    # layer 0, input gates = embed[token] @ W_e^T + z @ W_z^T + Wb (+ Rb for z and r, which are plain sums)
    g.const("tok_gates", (w["embed"].astype(f64) @ W0[:, :E].T.astype(f64)).astype(f32))  # [V+1, 3H]
    b0 = B0[:3 * H].copy()
    b0[:2 * H] += B0[3 * H:5 * H]
    z_gates = g.op("Gemm", cond, g.const("l0_wz", W0[:, E:].T), g.const("l0_b", b0))  # [B, 3H]
    g.const("l0_rz", R0[:H].T), g.const("l0_rr", R0[H:2 * H].T), g.const("l0_rh", R0[2 * H:].T)
    g.const("l0_rbh", B0[5 * H:])
    g.const("split_3", i64(H, H, H))
    g.const("split_2", i64(H, H))
    for layer in range(1, L):  # layers above: z and r from one Gemm over concat(input, state), h-gate parts apart
        W, R, B = gru[layer]
        g.const(f"l{layer}_zr", np.concatenate([W[:2 * H].T, R[:2 * H].T], axis=0))  # [2H, 2H]
        g.const(f"l{layer}_bzr", B[:2 * H] + B[3 * H:5 * H])
        g.const(f"l{layer}_wh", W[2 * H:].T), g.const(f"l{layer}_bwh", B[2 * H:3 * H])
        g.const(f"l{layer}_rh", R[2 * H:].T), g.const(f"l{layer}_brh", B[5 * H:])
    # logits + T * noise = y @ W_y^T + (z @ W_z^T + b + T * noise): the z part joins the noise, once per call
    out_y = g.const("out_wy", w["out_w"][:, :H].T)  # [H, C]
    out_z = g.op("Gemm", cond, g.const("out_wz", w["out_w"][:, H:].T), g.const("out_b", w["out_b"]))  # [B, C]
    bias = g.op("Add", g.op("Unsqueeze", out_z, g.const("axis_1", i64(1))), g.op("Mul", "noise", "temperature"))
    flat = g.op("Reshape", bias, g.const("shape_flat", i64(0, steps * C)))  # [B, T*C]
    noise_t = g.op("Split", flat, g.const("split_steps", np.full(steps, C, np.int64)), axis=1, n_out=steps)

    def cell_tail(zg, rg, in_h, hid_h, prev):
        """h' = (1 - z) * n + z * h with n = tanh(in_h + r * hid_h)  (ONNX GRU, linear_before_reset=1)."""
        n = g.op("Tanh", g.op("Add", in_h, g.op("Mul", rg, hid_h)))
        return g.op("Add", n, g.op("Mul", zg, g.op("Sub", prev, n)))

    start_idx = g.const("start_token", i64(start)) if start is not None else "prev_token"
    tokens = []
    for t in range(steps):
        tok = start_idx if t == 0 else tokens[-1]
        gates = g.op("Add", g.op("Gather", "tok_gates", tok, axis=0), z_gates)  # [B, 3H] (t = 0: [1, 3H] + [B, 3H])
        gz, gr, gh = g.op("Split", gates, "split_3", axis=1, n_out=3)
        zg = g.op("Sigmoid", g.op("Gemm", h[0], "l0_rz", gz))
        rg = g.op("Sigmoid", g.op("Gemm", h[0], "l0_rr", gr))
        h[0] = cell_tail(zg, rg, gh, g.op("Gemm", h[0], "l0_rh", "l0_rbh"), h[0])
        for layer in range(1, L):
            x = h[layer - 1]
            zr = g.op("Sigmoid", g.op("Gemm", g.op("Concat", x, h[layer], axis=1), f"l{layer}_zr", f"l{layer}_bzr"))
            zg, rg = g.op("Split", zr, "split_2", axis=1, n_out=2)
            h[layer] = cell_tail(zg, rg, g.op("Gemm", x, f"l{layer}_wh", f"l{layer}_bwh"),
                                 g.op("Gemm", h[layer], f"l{layer}_rh", f"l{layer}_brh"), h[layer])
        scores = g.op("Gemm", h[-1], out_y, noise_t[t] if steps > 1 else noise_t)
        tokens.append(g.op("ArgMax", scores, axis=1, keepdims=0))  # [B]
    by_step = g.op("Reshape", g.op("Concat", *tokens, axis=0), g.const("shape_steps", i64(steps, -1)))
    g.nodes.append(helper.make_node("Transpose", [by_step], ["tokens"], perm=[1, 0]))
    prev = [] if start is not None else [helper.make_tensor_value_info("prev_token", TensorProto.INT64, ["batch"])]
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info(cond, TensorProto.FLOAT, ["batch", Z]), *prev,
         helper.make_tensor_value_info("noise", TensorProto.FLOAT, ["batch", steps, C]),
         helper.make_tensor_value_info("temperature", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", steps])], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cmt-bridge export.musicvae_sample")  # kept: the shipped file stays identical
    model.ir_version = 8
    for k, v in (meta or {}).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v if isinstance(v, str) else json.dumps(v)
    onnx.checker.check_model(model, full_check=True)
    return model


# -- into a model folder, validated ----------------------------------------------------------------------
def add_to_folder(folder: str | Path, windows: np.ndarray | None = None, windows_from: str | None = None,
                  timing_runs: int = 100, built_by: str | None = None) -> dict:
    """Build ``decoder_sample.onnx`` in ``folder``, check it against the step loop, record it in the manifest.

    ``windows``: real melodies int [N, 32] for the check (default: the held-out test split when
    ``data/folk`` exists, else the manifest's golden melodies). Raises BridgeError, leaving the manifest
    without the graph, when any token differs. -> the validation report.
    """
    from plugins.midime.vae import SAMPLE_GRAPH, MusicVAE

    folder = Path(folder)
    mpath = folder / MANIFEST
    manifest = json.loads(mpath.read_text())
    vocab = manifest["vocab"]
    steps, start, classes = int(vocab["steps"]), int(vocab["start"]), int(vocab["num_classes"])
    w = decoder_weights(folder)
    if w["out_w"].shape[0] != classes or w["embed"].shape[0] != classes + 1:
        raise BridgeError(f"{folder.name}: decoder sizes do not match the manifest vocab ({classes} classes)")
    built_from = {name: manifest["graphs"][name]["sha256"] for name in ("decoder_init", "decoder_step")}
    for name, sha in built_from.items():
        if sha256(folder / manifest["graphs"][name]["file"]) != sha:
            raise BridgeError(f"{folder.name}: {name} does not match its manifest sha256")
    meta = {"name": manifest["name"], "version": manifest.get("version", ""), "graph": GRAPH,
            "built_from": built_from}
    model = build(w, steps, start, meta)
    # keep any previous graph out while checking: the step loop is the reference
    manifest["graphs"].pop(SAMPLE_GRAPH, None)
    manifest.get("validation", {}).pop(SAMPLE_GRAPH, None)
    mpath.write_text(json.dumps(manifest, indent=1))
    path = folder / FILE
    path.write_bytes(model.SerializeToString())
    z_dim = int(manifest["z_dim"])
    spec = {"file": FILE, "sha256": sha256(path),
            "inputs": {"z": {"tensor": "z", "dtype": "float32", "shape": ["batch", z_dim]},
                       "noise": {"tensor": "noise", "dtype": "float32", "shape": ["batch", steps, classes]},
                       "temperature": {"tensor": "temperature", "dtype": "float32", "shape": [1]}},
            "outputs": {"tokens": {"tensor": "tokens", "dtype": "int64", "shape": ["batch", steps]}},
            "built_from": built_from,
            "built_by": built_by or f"python -m export.musicvae.sample_graph {folder}",
            "semantics": "tokens[:, t] = argmax(logits_t + temperature * noise[:, t]), fed back as the next "
                         "input; temperature 0 = greedy; Gumbel noise samples softmax(logits / temperature)"}
    candidate = dict(manifest, graphs={**manifest["graphs"], SAMPLE_GRAPH: spec})
    mpath.write_text(json.dumps(candidate, indent=1))
    try:
        if windows is None:
            windows, windows_from = _real_melodies(manifest)
        report = validate(MusicVAE.load(folder, threads=1), np.asarray(windows, np.int64), timing_runs)
    except BaseException:
        mpath.write_text(json.dumps(manifest, indent=1))
        path.unlink(missing_ok=True)
        raise
    report["melodies"] = windows_from or f"{len(windows)} given melodies"
    report["file_bytes"] = path.stat().st_size
    if report["mismatched_rows"]:
        mpath.write_text(json.dumps(manifest, indent=1))
        path.unlink(missing_ok=True)
        raise BridgeError(f"{folder.name}: {GRAPH} differs from the step-by-step decode in "
                          f"{report['mismatched_rows']} of {report['rows']} decodes: not written")
    candidate.setdefault("validation", {})[GRAPH] = report
    mpath.write_text(json.dumps(candidate, indent=1))
    log.info("%s: %s tokens identical to the step loop on %d decodes (%s); one 2-bar decode %.2f ms vs %.2f ms "
             "step by step (1 thread)", folder.name, GRAPH, report["rows"], report["melodies"],
             report["decode_ms_sample_graph"], report["decode_ms_step_loop"])
    return report


def _real_melodies(manifest: dict, n: int = 256) -> tuple[np.ndarray, str]:
    from ..data import data_root
    from .folk import load_split

    try:
        test, _ = load_split("test")
    except BridgeError:
        gold = np.array(manifest["golden"]["melody"], np.int64)
        return gold, f"the manifest's {len(gold)} golden held-out melodies ({data_root() / 'folk'} not prepared)"
    pick = np.sort(np.random.default_rng(0).permutation(len(test))[:n])
    return test[pick], f"{len(pick)} held-out test windows of {data_root() / 'folk'} (seed 0)"


def validate(vae, windows: np.ndarray, timing_runs: int = 100, temperatures=(0.0, 0.5, 1.0, 1.5),
             warmup: int = 5) -> dict:
    """Tokens of the one-call graph vs the step loop: greedy and with fixed Gumbel noise (``temperatures``), from
    the posterior means of ``windows`` and from as many prior latents; plus one decode timed both ways (any
    MusicVAE runtime: the 2-bar ``decoder_sample`` or the 16-bar model's ``bar_sample``)."""
    if not vae.has_sample_graph:
        raise BridgeError(f"{vae.name}: no usable decoder_sample graph to validate")
    rng = np.random.default_rng(0)
    mu, _ = vae.encode(windows)
    latents = {"posterior_mean": mu, "prior": rng.standard_normal(mu.shape).astype(np.float32)}
    rows = mismatched = 0
    cases = {}
    for lname, z in latents.items():
        for temp in temperatures:
            noise = None if temp == 0 else vae.gumbel(len(z), rng)
            a = vae.decode_noise(z, temp, noise, graph=True)
            b = vae.decode_noise(z, temp, noise, graph=False)
            bad = int((a != b).any(axis=1).sum())
            cases[f"{lname}_T{temp:g}"] = bad
            rows += len(z)
            mismatched += bad
    z1 = mu[:1]
    times: dict[str, list[float]] = {"sample": [], "steps": []}
    for k in range(timing_runs + warmup):
        for key, graph in (("sample", True), ("steps", False)):
            t0 = time.perf_counter()
            vae.decode_noise(z1, 0.0, None, graph=graph)
            if k >= warmup:
                times[key].append((time.perf_counter() - t0) * 1e3)
    return {"identical": mismatched == 0, "rows": rows, "mismatched_rows": mismatched,
            "decisions": rows * vae.steps, "mismatched_by_case": cases,
            "cases": f"greedy and fixed Gumbel noise at T {' / '.join(f'{t:.1f}' for t in temperatures if t)}; "
                     "z = posterior means and prior draws",
            "decode_ms_sample_graph": round(float(np.median(times["sample"])), 3),
            "decode_ms_step_loop": round(float(np.median(times["steps"])), 3), "threads": 1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.musicvae.sample_graph",
                                 description="add the one-call decoder_sample graph to a MusicVAE model folder")
    ap.add_argument("folder", type=Path, help="model folder, e.g. onnx_models/musicvae-mel2bar")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        report = add_to_folder(args.folder)
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CMT token step: recurrent linear attention in onnxruntime vs full recompute in torch (issue 5).

    nice -n 10 .venv/bin/python bench/bench_cmt_step.py [--positions 256 1024] [--repeats 5]

Same model, one thread everywhere: the shipped config's architecture (from
onnx_models/cmt/manifest.json) with the trained weights when ``--checkpoint``
(or runs/cmt) has them, else seeded weights (the cost of a step does not depend
on the weights):

- ``ort_step_ms``: one token of the exported recurrent step (one call: type
  logits, both second stages and the new state) with the state of ``position`` tokens;
- ``torch_recompute_ms``: the original approach, the whole sequence of
  ``position`` tokens through the parallel form in torch for one new token;
- ``torch_softmax_recompute_ms``: the same with an nn.TransformerEncoder of the
  same width/depth (causal softmax attention), the calibration in the issue;
- ``max_diff_parallel_vs_step``: parallel form against the ONNX step after
  ``max(positions)`` tokens.

Writes bench/results/cmt_step.json. Timings on a shared 2-core machine are noisy:
medians of ``--repeats`` runs.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--positions", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/cmt_step.json")
    ap.add_argument("--checkpoint", type=Path, default=None, help="a CMT checkpoint (default: newest in runs/cmt)")
    ap.add_argument("--manifest", type=Path, default=ROOT / "onnx_models/cmt/manifest.json")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    from export.cmt.model import CMTConfig, CMTModel, export_fields, export_step
    from plugins.cmt.tokens import VOCAB_SIZES

    torch.set_num_threads(1)
    torch.manual_seed(0)
    from export.checkpoints import latest_checkpoint
    from export.cmt.train import load_model

    ckpt = args.checkpoint or latest_checkpoint(ROOT / "runs/cmt")
    weights = "seeded (untrained)"
    if ckpt is not None and Path(ckpt).is_file():
        model, _ = load_model(Path(ckpt))
        cfg, weights = model.cfg, f"trained ({Path(ckpt).name})"
    else:
        cfg = CMTConfig(dropout=0.0)
        if args.manifest.is_file():
            c = json.loads(args.manifest.read_text())["training"]["config"]
            cfg = CMTConfig(c["d_model"], c["n_layers"], c["n_heads"], c["d_ff"], 0.0)
        model = CMTModel(cfg)
    model = model.eval()
    n = max(args.positions)
    g = torch.Generator().manual_seed(1)
    tokens = torch.stack([torch.randint(0, v, (1, n + 1), generator=g) for v in VOCAB_SIZES], dim=-1)
    softmax = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(cfg.d_model, cfg.n_heads, cfg.d_ff, 0.0, batch_first=True, norm_first=True),
        cfg.n_layers, enable_nested_tensor=False).eval()

    with tempfile.TemporaryDirectory() as tmp:
        export_step(model, Path(tmp) / "step.onnx")
        export_fields(model, Path(tmp) / "fields.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        step = ort.InferenceSession(str(Path(tmp) / "step.onnx"), opts, providers=["CPUExecutionProvider"])
        fields = ort.InferenceSession(str(Path(tmp) / "fields.onnx"), opts, providers=["CPUExecutionProvider"])
        size_mb = (Path(tmp) / "step.onnx").stat().st_size / 2 ** 20 + (Path(tmp) / "fields.onnx").stat().st_size / 2 ** 20

    s, z = (np.zeros(sh, np.float32) for sh in model.state_shapes(1))
    tok_np = tokens.numpy()
    states, hidden = {}, None
    for t in range(n):
        _, hidden, s, z, _ = step.run(None, {"token": tok_np[:, t], "s": s, "z": z})
        if t + 1 in args.positions:
            states[t + 1] = (s.copy(), z.copy())
    with torch.no_grad():
        ref = model.hidden(tokens[:, :n])[:, -1].numpy()
    results: dict = {"weights": weights, "model": {"d_model": cfg.d_model, "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
                               "params": model.n_params(), "onnx_mb": round(size_mb, 2)},
                     "threads": 1, "repeats": args.repeats,
                     "max_diff_parallel_vs_step": float(np.abs(ref - hidden).max()), "positions": {}}
    for pos in args.positions:
        s0, z0 = states[pos]

        def ort_step():   # one call: type logits + both second stages (metrical, note) + the new state
            step.run(None, {"token": tok_np[:, pos], "s": s0, "z": z0})

        def torch_recompute():
            with torch.no_grad():
                h = model.hidden(tokens[:, :pos + 1])[:, -1]
                model.type_head(h), model.fields(h, torch.tensor([2]))

        mask = torch.nn.Transformer.generate_square_subsequent_mask(pos + 1)
        x = torch.randn(1, pos + 1, cfg.d_model)

        def torch_softmax():
            with torch.no_grad():
                softmax(x, mask=mask, is_causal=True)

        ort_step()
        r = {"ort_step_ms": _median_ms(ort_step, max(args.repeats, 50)),
             "torch_recompute_ms": _median_ms(torch_recompute, args.repeats),
             "torch_softmax_recompute_ms": _median_ms(torch_softmax, args.repeats)}
        r["speedup_vs_recompute"] = r["torch_recompute_ms"] / r["ort_step_ms"]
        r["speedup_vs_softmax"] = r["torch_softmax_recompute_ms"] / r["ort_step_ms"]
        results["positions"][str(pos)] = {k: round(v, 3) for k, v in r.items()}
        print(pos, results["positions"][str(pos)], flush=True)
    # one bar at a time through the numpy sampler (untrained model: token counts per bar are arbitrary)
    from plugins.cmt.sampling import BarSampler

    def run_step(**f):
        tl, h, s_, z_, fl = step.run(None, f)
        return {"type_logits": tl, "hidden": h, "s": s_, "z": z_, "field_logits": fl}

    def run_fields(**f):
        return {"logits": fields.run(None, f)[0]}

    from export.cmt.model import field_offsets

    bs = BarSampler(run_step, run_fields, field_offsets(cfg), model.state_shapes(1), seed=0)
    per_bar, toks = [], []
    for b in range(8):
        t = time.perf_counter()
        _, bar_tokens = bs.bar(density=b % 7, strength=3)
        per_bar.append((time.perf_counter() - t) * 1e3)
        toks.append(len(bar_tokens))
    ms = statistics.median(per_bar)
    results["bar"] = {"ms_median": round(ms, 2), "tokens_median": statistics.median(toks),
                      "ms_per_token": round(sum(per_bar) / sum(toks), 3),
                      "share_of_bar_at_120bpm": round(ms / 2000.0, 4),
                      "note": f"{weights} weights; one 4/4 bar = 2000 ms at 120 BPM (bench_cmt.py times bars "
                              f"of the shipped model)"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The 16-bar MusicVAE (issue 15): hierarchical decoder against the flat baseline, on held-out folk tunes.

    .venv/bin/python bench/bench_midime16.py [--flat runs/musicvae-mel16bar-flat] [--write-manifest]

- reconstruction: free-running argmax decoding from the posterior mean, per
  16th, overall and on the steps that are not HOLD; the shipped hierarchical
  model through onnxruntime, the flat baseline (same encoder, same training
  budget) in torch from its checkpoint (``--flat``: a run folder or a
  checkpoint; default runs/musicvae-mel16bar-flat, else the weights kept in
  bench/models/musicvae-mel16bar-flat.pt);
- structure: how often a bar repeats or nearly repeats (<= 2 of its 16 tokens
  differ) an earlier bar of the same piece, for held-out tunes and for pieces
  sampled from the prior by each model: the shipped sampler (a form drawn
  from the training tunes', plugins/midime/form.py) and the plain prior
  (``form=free``: what the network does alone);
- out of distribution (on unless ``--no-ood``): the same reconstruction on
  16-bar windows the folk-trained models never saw: the first part (the
  soprano, for the chorales) of music21's Bach corpus, and melodies from
  export/transcription/melodies.py (leaps, chromatic and fast runs, repeated
  notes; seeds from BENCH_SEEDS, never trained on), quantised to 16ths;
- interpolation: end points against the inputs, change per step;
- personalisation: MidiMe learns 4 16-bar windows of one held-out tune;
  distance of 50 personal vs 50 base samples to them (plugins/midime/style.py),
  both sampled as the host samples them (with corpus forms);
- speed: one 16-bar sample on one thread (conductor + 16 ``bar_sample`` calls)
  against the step loop (1 + 16 x 17 calls) and torch eager in the same run;
  MidiMe learning time.

Writes bench/results/midime16.json.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_midime as two  # noqa: E402

from plugins.midime import form, melody  # noqa: E402
from plugins.midime.vae16 import MusicVAE16  # noqa: E402

FLAT = "musicvae-mel16bar-flat"
KEPT_FLAT = ROOT / "bench" / "models" / f"{FLAT}.pt"
NEAR = form.NEAR  # a bar "nearly repeats" an earlier one when at most this many of its 16 tokens differ


def repeats(pieces: np.ndarray) -> float:
    """Share of bars 2..16 that repeat or nearly repeat an earlier bar of the same piece (form.sources)."""
    if not len(pieces):
        return 0.0
    again = [form.sources(p)[1:] != np.arange(1, form.BARS) for p in np.asarray(pieces)]
    return float(np.mean(again))


def by_bar(windows: np.ndarray, out: np.ndarray) -> dict:
    """Non-hold reconstruction accuracy of each of the 16 bars (``out``: the reconstructions of ``windows``):
    does z hold the middle of a piece as well as its ends? (An encoder that summarises by its final states
    keeps the first and last bars best.)"""
    hit = (out == windows).reshape(len(windows), 16, -1)
    nonhold = (windows != melody.HOLD).reshape(len(windows), 16, -1)
    acc = (hit & nonhold).sum((0, 2)) / np.maximum(nonhold.sum((0, 2)), 1)
    return {"reconstruction_nonhold_by_bar": [round(float(a), 3) for a in acc]}


def flat_model(given: Path | None):
    """The flat baseline in torch: (model, where from) or (None, why not)."""
    try:
        import torch

        from export import checkpoints
        from export.musicvae16.export import load_checkpoint
    except ImportError as e:
        return None, f"torch / export unavailable ({e})"
    path = given or ROOT / "runs" / FLAT
    if path.is_dir():
        path = checkpoints.latest_checkpoint(path)
    if path is None or not path.is_file():
        path = KEPT_FLAT
    if not path.is_file():
        return None, f"no flat checkpoint ({given or 'runs/' + FLAT}, {KEPT_FLAT.relative_to(ROOT)})"
    model, state, _ = load_checkpoint(path)
    torch.set_num_threads(1)
    seconds = next((h["seconds"] for h in reversed(state.get("history", [])) if "seconds" in h), None)
    return model, {"checkpoint": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
                   "step": state["step"], "minutes": seconds and round(seconds / 60, 1)}


def torch_sample(model, z: np.ndarray, temperature: float, rng) -> np.ndarray:
    """Gumbel-max sampling from a torch 16-bar model (flat or hierarchical), step by step."""
    import torch

    with torch.no_grad():
        zt = torch.from_numpy(z)
        b = len(z)
        prev = torch.full((b,), melody.START, dtype=torch.long)
        out = []
        flat = model.cfg.decoder == "flat"
        cond = zt if flat else model.conduct(zt)
        state = model.init_state(zt) if flat else None
        for t in range(256):
            c = cond if flat else cond[:, t // 16]
            if not flat and t % 16 == 0:
                state = model.init_state(c)
            logits, state = model.step(c, prev, state)
            g = torch.from_numpy(rng.gumbel(size=logits.shape).astype(np.float32))
            prev = (logits + temperature * g).argmax(-1)
            out.append(prev)
        return torch.stack(out, 1).numpy()


def flat_figures(model, windows: np.ndarray, rng, n: int, temperature: float, ood: dict | None = None) -> dict:
    import torch

    from export.musicvae.train import evaluate

    q = evaluate(model, windows)
    extra = {}
    for name, ws in (ood or {}).items():
        o = evaluate(model, ws)
        extra[f"ood_{name}"] = {"reconstruction_acc": round(o["acc"], 4),
                                "reconstruction_nonhold_acc": round(o["nonhold_acc"], 4)}
    z = rng.standard_normal((n, model.cfg.z_dim)).astype(np.float32)
    samples = torch_sample(model, z, temperature, rng)
    with torch.no_grad():
        t0 = time.perf_counter()
        for _ in range(3):
            model.decode_greedy(torch.from_numpy(z[:1]))
    return {"reconstruction_acc": round(q["acc"], 4), "reconstruction_nonhold_acc": round(q["nonhold_acc"], 4),
            "sample_repeat_share": round(repeats(samples), 4),
            "decode_ms_torch": round((time.perf_counter() - t0) / 3 * 1e3, 1), **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="default onnx_models/musicvae-mel16bar")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "folk16" / "test.npz")
    ap.add_argument("--flat", type=Path, default=None, help="the flat baseline: run folder or checkpoint")
    ap.add_argument("--limit", type=int, default=1000, help="held-out windows scored")
    ap.add_argument("--samples", type=int, default=200, help="prior samples per model for the structure figure")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30, help="timed decodes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-ood", dest="ood", action="store_false", help="skip the out-of-distribution sets")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "midime16.json")
    ap.add_argument("--write-manifest", action="store_true", help="store the figures in the model's manifest")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    vae = MusicVAE16.load(args.model, threads=1)
    if not args.data.is_file():
        print(f"{args.data} missing: run `cmt-bridge data prepare folk16` first", file=sys.stderr)
        return 1
    d = np.load(args.data)
    windows, tune_ids = d["windows"].astype(np.int64), d["tune_ids"]
    keep = np.sort(rng.choice(len(windows), min(args.limit, len(windows)), replace=False))
    scored, scored_ids = windows[keep], tune_ids[keep]
    temp = vae.default_temperature
    t0 = time.perf_counter()
    res: dict = {"model": vae.name, "version": vae.bundle.manifest.get("version"),
                 "split": "test (held-out tunes of data/folk16)", "windows": int(len(scored))}
    rebuilt = two.reconstruct(vae, scored)
    res.update(two.reconstruction(vae, scored, rebuilt))
    res.update(by_bar(scored, rebuilt))
    ood = {}
    if args.ood:
        figures, ood = two.ood_figures(vae, rng, bach=300, generated=200)
        res.update(figures)
    # structure: one window per held-out tune (the first), against prior samples of each model
    first = np.unique(tune_ids, return_index=True)[1]
    res["heldout_repeat_share"] = round(repeats(windows[first]), 4)
    res["heldout_tunes"] = int(len(first))
    samples = vae.sample(args.samples, temp, rng, form=form.CORPUS)
    res["sample_repeat_share"] = round(repeats(samples), 4)
    res["sample_form"] = "corpus: a form drawn from the training windows' (manifest forms), repeated bars written again"
    res["forms_repeat_share"] = round(vae.forms.repeat_share(), 4) if vae.forms is not None else None
    res["sample_repeat_share_free"] = round(repeats(vae.sample(args.samples, temp, rng, form=form.FREE)), 4)
    res["sample_temperature"] = temp
    res["repeat_definition"] = f"share of bars 2-16 within {NEAR} of 16 tokens of an earlier bar of the piece"
    res.update(two.interpolation(vae, scored, scored_ids, rng, pairs=50, steps=5))
    sets = two.tune_sets(windows, tune_ids, args.trials, size=4)
    if sets:
        res.update(two.personalisation(vae, sets, rng, n=50, temperature=temp, form=form.CORPUS))
        res["personalisation_set"] = (f"4 16-bar windows of one held-out tune (every other bar when long enough), "
                                      f"{len(sets)} tunes; distance as for 2 bars (plugins/midime/style.py)")
        res.update(two.learning_time(vae, sets[0]))
    mu, _ = vae.encode(scored[:1])
    fns = {"bar_sample": lambda: vae.decode(mu, temp, np.random.default_rng(1)),
           "step_loop": lambda: vae.decode_noise(mu, temp, vae.gumbel(1, np.random.default_rng(1)), graph=False)}
    for k, ts in two._timed(fns, args.runs).items():
        res[f"sample_ms_{k}"] = round(float(np.median(ts)), 2)
    res["sample_speedup_vs_step_loop"] = round(res["sample_ms_step_loop"] / res["sample_ms_bar_sample"], 2)
    model, where = flat_model(args.flat)
    if model is None:
        res["flat"] = {"skipped": where}
    else:
        res["flat"] = {**where, **flat_figures(model, scored, rng, args.samples, temp, ood)}
        res["nonhold_acc_vs_flat"] = round(res["reconstruction_nonhold_acc"]
                                           / max(res["flat"]["reconstruction_nonhold_acc"], 1e-9), 2)
    res["decode_ms_torch_at_export"] = vae.bundle.manifest.get("validation", {}).get("decode_ms_torch")
    res["bench_seconds"] = round(time.perf_counter() - t0, 1)
    res["load_average_1min"] = round(os.getloadavg()[0], 2)

    held = res["heldout_repeat_share"]
    print(f"model {res['model']} ({res['version']}), {res['windows']} held-out 16-bar windows")
    print(f"reconstruction acc {res['reconstruction_acc']:.3f} (all-hold {res['all_hold_baseline_acc']:.3f}), "
          f"non-hold {res['reconstruction_nonhold_acc']:.3f}   target >= 0.85 overall")
    if "nonhold_acc_vs_flat" in res:
        f = res["flat"]
        print(f"flat baseline ({f['step']} steps, {f['minutes']} min): acc {f['reconstruction_acc']:.3f}, non-hold "
              f"{f['reconstruction_nonhold_acc']:.3f}; hierarchical/flat non-hold {res['nonhold_acc_vs_flat']}x "
              f"(target >= 3x)")
    for name in ood:
        o, fo = res[f"ood_{name}"], res["flat"].get(f"ood_{name}", {})
        print(f"out of distribution, {name} ({o['windows']} windows): acc {o['reconstruction_acc']:.3f} non-hold "
              f"{o['reconstruction_nonhold_acc']:.3f} (all-hold {o['all_hold_baseline_acc']:.3f})"
              + (f"; flat {fo['reconstruction_acc']:.3f} / {fo['reconstruction_nonhold_acc']:.3f}" if fo else ""))
    nb = res["reconstruction_nonhold_by_bar"]
    print(f"non-hold by bar: bar 1 {nb[0]:.3f}, bars 2-15 {np.mean(nb[1:15]):.3f} (worst {min(nb[1:15]):.3f}), "
          f"bar 16 {nb[15]:.3f}")
    print(f"structure (bars repeating an earlier bar): held-out {held:.3f}, samples {res['sample_repeat_share']:.3f} "
          f"({(res['sample_repeat_share'] - held) / max(held, 1e-9):+.0%}; target within 20%) with corpus forms, "
          f"{res['sample_repeat_share_free']:.3f} free"
          + (f", flat samples {res['flat']['sample_repeat_share']:.3f}" if "sample_repeat_share" in res['flat'] else ""))
    print(f"interpolation end points {res['interpolation_endpoint_acc']:.3f}, per-step Hamming "
          f"{res['interpolation_step_hamming']}")
    if "personalisation_ratio_median" in res:
        print(f"personalisation ratio median {res['personalisation_ratio_median']} (target >= 2); MidiMe learn "
              f"{res['midime_learn_s']:.2f} s (target <= 3 s)")
    print(f"one 16-bar sample: {res['sample_ms_bar_sample']:.1f} ms (1 + 16 calls) vs step loop "
          f"{res['sample_ms_step_loop']:.1f} ms ({res['sample_speedup_vs_step_loop']}x); target <= 40 ms, 1 thread")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    if args.write_manifest:
        path = vae.bundle.folder / "manifest.json"
        man = json.loads(path.read_text())
        man.setdefault("quality", {})["bench"] = {k: v for k, v in res.items() if not isinstance(v, list)}
        man["quality"]["bench_command"] = "python bench/bench_midime16.py --write-manifest"
        path.write_text(json.dumps(man, indent=1))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

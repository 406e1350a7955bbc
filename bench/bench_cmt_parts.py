"""CMT parts against their instruments: the model's notes as sampled (baseline) vs arranged (issue 18).

    .venv/bin/python bench/bench_cmt_parts.py [--model onnx_models/cmt] [--pieces 8] [--bars 16]

The same sampled bars (seeds 0..pieces-1, controls drawn uniformly over the classes) are measured as the
model made them and after :func:`plugins.cmt.parts.arrange` with the manifest's part rules:

- out of range: share of a part's notes outside its instrument's range (lead = a flute, C4..C7);
- chords: notes of one part starting together (mean / max over onsets), for the single-line parts;
- bass above the harmony: share of bass notes at or above the lowest other pitch sounding then;
- lead below C4: share of lead notes under MIDI 60 (the issue saw 36 of 63);
- velocities: distinct values and their spread (the model has none: one fixed velocity);
- cost: arrange time per bar as a ratio of the sampling time per bar, same run.

Writes bench/results/cmt_parts.json.
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

from bridge.runtime import ModelBundle, default_models_dir  # noqa: E402
from plugins.cmt import tokens as T  # noqa: E402
from plugins.cmt.parts import arrange, rules_from_manifest  # noqa: E402
from plugins.cmt.sampling import EXPECT, BarSampler  # noqa: E402


def measure(bars: list[dict], rules) -> dict:
    """Figures over a list of bars (notes per part, beats from the bar line)."""
    out: dict = {}
    total = {name: 0 for name in rules}
    outside = {name: 0 for name in rules}
    chords: dict[str, list[int]] = {name: [] for name in rules}
    bass_above = bass_n = lead_low = 0
    velocities: list[int] = []
    for notes in bars:
        for name, part in notes.items():
            rule = rules[name]
            total[name] += len(part)
            if rule.role != "drums":
                outside[name] += sum(not rule.low <= n.pitch <= rule.high for n in part)
            starts: dict[float, int] = {}
            for n in part:
                starts[round(n.start, 6)] = starts.get(round(n.start, 6), 0) + 1
            chords[name] += list(starts.values())
            velocities += [n.velocity for n in part]
            if name == "lead":
                lead_low += sum(n.pitch < 60 for n in part)
        others = [n for k, v in notes.items() if k not in ("bass", "drums") for n in v]
        for b in notes.get("bass", []):
            sounding = [o.pitch for o in others if o.start <= b.start + 1e-6 < o.start + o.duration]
            if sounding:
                bass_n += 1
                bass_above += b.pitch >= min(sounding)
    for name in rules:
        if total[name]:
            out[name] = {"notes": total[name], "out_of_range": round(outside[name] / total[name], 4),
                         "chord_mean": round(float(np.mean(chords[name])), 3), "chord_max": int(max(chords[name]))}
    out["bass_at_or_above_harmony"] = round(bass_above / max(bass_n, 1), 4)
    out["lead_below_c4"] = round(lead_low / max(total.get("lead", 0), 1), 4)
    out["velocity_distinct"] = len(set(velocities))
    out["velocity_std"] = round(float(np.std(velocities)) if velocities else 0.0, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_models_dir() / "cmt")
    ap.add_argument("--pieces", type=int, default=8)
    ap.add_argument("--bars", type=int, default=16)
    args = ap.parse_args(argv)
    bundle = ModelBundle.load(args.model, threads=1, expect=EXPECT)
    rules = rules_from_manifest(bundle.manifest)
    raw, arranged = [], []
    sample_s = arrange_s = 0.0
    for piece in range(args.pieces):
        rng = np.random.default_rng(1000 + piece)
        sampler = BarSampler.from_bundle(bundle, seed=piece, guide=True, total_bars=args.bars)
        for _ in range(args.bars):
            d, s = int(rng.integers(1, T.DENSITY_CLASSES)), int(rng.integers(1, T.STRENGTH_CLASSES))
            t0 = time.perf_counter()
            notes, _ = sampler.bar(d, s)
            t1 = time.perf_counter()
            done = arrange(notes, rules=rules, strength=s)
            t2 = time.perf_counter()
            sample_s, arrange_s = sample_s + t1 - t0, arrange_s + t2 - t1
            raw.append(notes)
            arranged.append(done)
    result = {"model": bundle.manifest.get("version"), "pieces": args.pieces, "bars_each": args.bars,
              "baseline_as_sampled": measure(raw, rules), "arranged": measure(arranged, rules),
              "arrange_cost_ratio": round(arrange_s / max(sample_s, 1e-9), 4),
              "sample_ms_per_bar": round(1000 * sample_s / len(raw), 2),
              "command": "python bench/bench_cmt_parts.py " + " ".join(argv or sys.argv[1:])}
    out = ROOT / "bench" / "results" / "cmt_parts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    base, new = result["baseline_as_sampled"], result["arranged"]
    print(f"{len(raw)} bars; as sampled -> arranged")
    for name in rules:
        if name in base and name in new:
            print(f"  {name:8s} out of range {base[name]['out_of_range']:.3f} -> {new[name]['out_of_range']:.3f}  "
                  f"notes per onset mean/max {base[name]['chord_mean']:.2f}/{base[name]['chord_max']} -> "
                  f"{new[name]['chord_mean']:.2f}/{new[name]['chord_max']}")
    print(f"  bass at or above the harmony {base['bass_at_or_above_harmony']:.3f} -> {new['bass_at_or_above_harmony']:.3f}")
    print(f"  lead below C4 {base['lead_below_c4']:.3f} -> {new['lead_below_c4']:.3f}")
    print(f"  velocities: {base['velocity_distinct']} distinct (std {base['velocity_std']}) -> "
          f"{new['velocity_distinct']} distinct (std {new['velocity_std']})")
    print(f"  arrange costs {result['arrange_cost_ratio']:.4f} x the sampling time "
          f"({result['sample_ms_per_bar']} ms a bar); wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

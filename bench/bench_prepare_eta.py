"""How honest is ``data prepare``'s ETA? Counting files (the old bar) against counting bytes (the new one).

    .venv/bin/python bench/bench_prepare_eta.py [--files 60] [--seed 1]

Times ``parse_file`` on a random sample of music21's folk ABC files (one core,
in this process), then replays that run file by file: after each file the ETA
a bar would print (elapsed / share done - elapsed, share by files or by
bytes) is compared with the time truly left. Both weightings see the same
measured times (the baseline runs in the same run); orders: path order
(what the old bar saw), the sample's random order, and largest files first
(what ``data prepare`` does now).
Prints the median and worst ETA error as a share of the whole run and the
ratio files/bytes; writes bench/results/prepare_eta.json. Needs music21.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def eta_errors(seconds: np.ndarray, weight: np.ndarray, order: list[int]) -> tuple[float, float]:
    """(median, max) of |predicted - true time left| / whole run, after each file but the last."""
    total, done_w, elapsed, errors = seconds.sum(), 0.0, 0.0, []
    for i in order[:-1]:
        elapsed += seconds[i]
        done_w += weight[i]
        predicted = elapsed / (done_w / weight.sum()) - elapsed
        errors.append(abs(predicted - (total - elapsed)) / total)
    return float(np.median(errors)), float(max(errors))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "prepare_eta.json")
    args = ap.parse_args(argv)
    from export.musicvae.folk import corpus_files, parse_file

    files = corpus_files()
    random.seed(args.seed)
    sample = random.sample(files, args.files)
    sizes, seconds = [], []
    for f in sample:
        t0 = time.perf_counter()
        parse_file(f)
        seconds.append(time.perf_counter() - t0)
        sizes.append(f.stat().st_size)
    size, sec = np.array(sizes, float), np.array(seconds)
    res = {"files": args.files, "seed": args.seed, "corpus_files": len(files),
           "parse_seconds": round(float(sec.sum()), 1), "correlation_bytes_seconds": round(float(np.corrcoef(size, sec)[0, 1]), 3),
           "orders": {}}
    orders = {"path": sorted(range(len(sample)), key=lambda i: str(sample[i])),   # the old bar's order
              "random": list(range(len(sample))), "largest_first": [int(i) for i in np.argsort(-size)]}
    for name, order in orders.items():
        by_files = eta_errors(sec, np.ones_like(sec), order)
        by_bytes = eta_errors(sec, size, order)
        res["orders"][name] = {"files_median": round(by_files[0], 3), "files_max": round(by_files[1], 3),
                               "bytes_median": round(by_bytes[0], 3), "bytes_max": round(by_bytes[1], 3),
                               "median_ratio_files_over_bytes": round(by_files[0] / max(by_bytes[0], 1e-9), 1)}
        print(f"{name:14s} ETA error (share of the run) median/max: by files {by_files[0]:.2f}/{by_files[1]:.2f}, "
              f"by bytes {by_bytes[0]:.2f}/{by_bytes[1]:.2f}  (files/bytes {by_files[0] / max(by_bytes[0], 1e-9):.1f}x)")
    old, new = res["orders"]["path"], res["orders"]["largest_first"]
    res["old_vs_new"] = {"old": "files counted, path order", "new": "bytes counted, largest files first",
                         "old_median": old["files_median"], "new_median": new["bytes_median"],
                         "old_max": old["files_max"], "new_max": new["bytes_max"],
                         "median_ratio_old_over_new": round(old["files_median"] / max(new["bytes_median"], 1e-9), 1)}
    print(f"old bar (files, path order) vs new (bytes, largest first): median ETA error "
          f"{old['files_median']:.2f} vs {new['bytes_median']:.2f} of the run "
          f"({res['old_vs_new']['median_ratio_old_over_new']}x), worst {old['files_max']:.2f} vs {new['bytes_max']:.2f}")
    print(f"{args.files} files parsed in {sec.sum():.1f} s; correlation of size and parse time "
          f"{res['correlation_bytes_seconds']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CMT control adherence, sanity and speed on held-out control curves (issue 5).

    .venv/bin/python bench/bench_cmt.py [--model onnx_models/cmt] [--curves 24] [--write-manifest]

- control curves: per-bar (density, strength) classes of 16-bar stretches of
  the *test* pieces of data/cmt (never trained on), plus random curves drawn
  uniformly over the classes (the range a video or a Max slider can ask for);
- adherence: each curve is generated with control C = 1 (the model alone, and
  with the sampler's rhythm guide, which keeps a bar's onset positions inside its
  density class) and the music that
  comes out is measured again (the notes re-encoded with plugins/cmt/tokens.py,
  exactly how the training data got its classes); Spearman correlation of
  requested vs measured density (and strength) over all bars. The baseline is
  the same curves with C = 0 (the model samples its own classes: uncontrolled);
- sanity: notes inside their instrument's usual range, durations on the 16th
  grid, empty bars where density >= 3 was requested, tokens per bar;
- speed: one bar through the numpy sampler + onnxruntime on one thread, against
  the bar's duration at 120 BPM, over all bars and over bars of four-part texture
  (>= 4 notes sounding at once: the corpus' lead, two string parts and bass).

Writes bench/results/cmt.json (and with --write-manifest the figures into the
model's manifest under quality.bench).
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
from plugins.cmt.sampling import EXPECT, MODEL_NAME, BarSampler  # noqa: E402

CURVE_BARS = 16


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=np.float64)
    for v in np.unique(x):
        m = x == v
        r[m] = r[m].mean()
    return r


def spearman(a, b) -> float:
    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def held_out_curves(n: int, rng: np.random.Generator, data: Path | None) -> list[tuple[str, float, np.ndarray]]:
    """(name, beats per bar, controls int [16, 2]) from 16-bar stretches of the test pieces (in their own meter)."""
    from export.cmt.data import load_split

    pieces, bpbs = load_split("test", data)
    usable = [(p, b) for p, b in zip(pieces, bpbs) if len(T.bar_controls(p)) >= CURVE_BARS]
    out = []
    for i in rng.choice(len(usable), size=min(n, len(usable)), replace=False):
        p, b = usable[i]
        c = T.bar_controls(p)
        s = int(rng.integers(0, len(c) - CURVE_BARS + 1))
        out.append((f"test{i}", float(b), c[s:s + CURVE_BARS]))
    return out


def random_curves(n: int, rng: np.random.Generator) -> list[tuple[str, float, np.ndarray]]:
    """Random-walk curves over the whole class range: density 1..7, strength 1..7 (0 = empty bar excluded)."""
    out = []
    for i in range(n):
        d = np.clip(np.cumsum(rng.integers(-2, 3, CURVE_BARS)) + rng.integers(1, 8), 1, 7)
        s = np.clip(np.cumsum(rng.integers(-1, 2, CURVE_BARS)) + rng.integers(1, 6), 1, 7)
        out.append((f"random{i}", 4.0, np.stack([d, s], 1)))
    return out


def measured(bar_tokens: np.ndarray, bpb: float) -> tuple[int, int, dict[str, list]]:
    notes = T.decode(bar_tokens, bpb)
    again = T.encode(notes, bpb, bars=1)
    c = T.bar_controls(again)[0]
    return int(c[0]), int(c[1]), notes


def _voices(notes: dict[str, list]) -> int:
    """Most notes sounding at once in the bar (4 = a four-part texture)."""
    every = [n for part in notes.values() for n in part]
    return max((sum(1 for m in every if m.start <= n.start < m.start + m.duration) for n in every), default=0)


def run_curves(bundle, curves, control: float, seed: int, guide: bool = False) -> dict:
    req_d, req_s, got_d, got_s = [], [], [], []
    in_range = total = off_grid = empty_busy = busy = tokens = 0
    bar_ms, bar4_ms = [], []
    for k, (_, bpb, curve) in enumerate(curves):
        sampler = BarSampler.from_bundle(bundle, beats_per_bar=bpb, total_bars=CURVE_BARS, seed=seed + k,
                                         control=control, guide=guide)
        for d, s in curve:
            t0 = time.perf_counter()
            _, bar_tokens = sampler.bar(int(d), int(s))
            ms = (time.perf_counter() - t0) * 1e3
            md, ms_, notes = measured(bar_tokens, bpb)
            req_d.append(int(d)), req_s.append(int(s)), got_d.append(md), got_s.append(ms_)
            bar_ms.append(ms)
            if _voices(notes) >= 4:          # four-part texture (the corpus' SATB: lead, 2 strings, bass)
                bar4_ms.append(ms)
            tokens += len(bar_tokens)
            for name, part in notes.items():
                ins = T.INSTRUMENTS[T.INSTRUMENT_INDEX[name]]
                for n in part:
                    total += 1
                    in_range += ins.low <= n.pitch <= ins.high
                    off_grid += abs(n.duration * 4 - round(n.duration * 4)) > 1e-6
            if d >= 3:
                busy += 1
                empty_busy += md == 0
    return {"density_spearman": round(spearman(req_d, got_d), 4),
            "strength_spearman": round(spearman(req_s, got_s), 4),
            "density_exact": round(float(np.mean(np.array(req_d) == np.array(got_d))), 4),
            "density_within_1": round(float(np.mean(np.abs(np.array(req_d) - np.array(got_d)) <= 1)), 4),
            "bars": len(req_d), "notes": total,
            "notes_in_instrument_range": round(in_range / max(1, total), 4),
            "durations_off_grid": int(off_grid),
            "empty_bars_at_density_3_plus": round(empty_busy / max(1, busy), 4),
            "tokens_per_bar": round(tokens / max(1, len(req_d)), 1),
            "bar_ms_median": round(float(np.median(bar_ms)), 2),
            "bar_ms_p95": round(float(np.percentile(bar_ms, 95)), 2),
            "bar_4_tracks_ms_median": round(float(np.median(bar4_ms)), 2) if bar4_ms else None,
            "bars_with_4_tracks": len(bar4_ms),
            "requested_density_mean": round(float(np.mean(req_d)), 3),
            "measured_density_mean": round(float(np.mean(got_d)), 3)}


def video_speed(seconds: float = 10.0, fps: int = 30, size: tuple[int, int] = (640, 360)) -> dict:
    """Video features (motion + visual beats per bar) of a synthetic 360p clip: times faster than real time."""
    import tempfile

    import cv2

    from plugins.cmt.video import video_controls

    w, h = size
    rng = np.random.default_rng(0)
    tex = cv2.GaussianBlur((rng.random((h, w * 4)) * 255).astype(np.uint8), (0, 0), 3)
    out: dict = {"clip": f"{w}x{h}, {fps} fps, {seconds:g} s, mp4v"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        for i in range(int(seconds * fps)):
            x = int(6 * i + 40 * np.sin(i / 7.0))
            vw.write(cv2.cvtColor(np.ascontiguousarray(np.roll(tex, -x, axis=1)[:, :w]), cv2.COLOR_GRAY2BGR))
        vw.release()
        for method in ("dis", "farneback"):
            t0 = time.perf_counter()
            video_controls(path, 4.0, None, method)
            dt = time.perf_counter() - t0
            out[f"{method}_s"] = round(dt, 3)
            out[f"{method}_x_real_time"] = round(seconds / dt, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_models_dir() / MODEL_NAME)
    ap.add_argument("--data", type=Path, default=None, help="prepared CMT data (default data/cmt)")
    ap.add_argument("--curves", type=int, default=24, help="held-out curves (and as many random ones)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/cmt.json")
    ap.add_argument("--write-manifest", action="store_true", help="write the figures into the model's manifest")
    args = ap.parse_args(argv)

    bundle = ModelBundle.load(args.model, threads=1, expect=EXPECT)
    rng = np.random.default_rng(args.seed)
    sets = {"held_out": held_out_curves(args.curves, rng, args.data), "random": random_curves(args.curves, rng)}
    BarSampler.from_bundle(bundle, seed=0).bar(3, 2)  # warm-up
    res: dict = {"model": bundle.manifest.get("version"), "threads": 1, "curve_bars": CURVE_BARS}
    for name, curves in sets.items():
        if not curves:
            print(f"{name}: no curves (is data/cmt prepared? cmt-bridge data prepare cmt)")
            continue
        for label, control, guide in (("controlled", 1.0, False), ("uncontrolled", 0.0, False),
                                      ("guided", 1.0, True)):
            r = run_curves(bundle, curves, control, args.seed, guide)
            res[f"{name}_{label}"] = r
            print(f"{name:8s} {label:12s} C={control:g}: density rho {r['density_spearman']:.3f}, strength rho "
                  f"{r['strength_spearman']:.3f}, {r['bars']} bars, in range {r['notes_in_instrument_range']:.3f}, "
                  f"empty at d>=3 {r['empty_bars_at_density_3_plus']:.3f}, {r['tokens_per_bar']} tokens/bar, "
                  f"{r['bar_ms_median']:.1f} ms/bar", flush=True)
    if "held_out_controlled" not in res:
        print("no held-out curves: the adherence figures need the test split of data/cmt", file=sys.stderr)
        return 1
    c = res["held_out_controlled"]
    bar_s = 4 * 60.0 / 120.0
    four = c["bar_4_tracks_ms_median"] or res["random_controlled"]["bar_4_tracks_ms_median"]
    res["summary"] = {
        "density_spearman_held_out": c["density_spearman"],
        "strength_spearman_held_out": c["strength_spearman"],
        "density_spearman_uncontrolled": res["held_out_uncontrolled"]["density_spearman"],
        "strength_spearman_uncontrolled": res["held_out_uncontrolled"]["strength_spearman"],
        "density_spearman_guided_held_out": res["held_out_guided"]["density_spearman"],
        "strength_spearman_guided_held_out": res["held_out_guided"]["strength_spearman"],
        "density_spearman_random_curves": res["random_controlled"]["density_spearman"],
        "strength_spearman_random_curves": res["random_controlled"]["strength_spearman"],
        "bar_4_tracks_ms": four,
        "bar_4_tracks_share_of_bar_at_120bpm": round(four / 1e3 / bar_s, 4) if four else None,
    }
    res["video"] = video_speed()
    res["summary"]["video_x_real_time_dis"] = res["video"]["dis_x_real_time"]
    print(f"video features: {res['video']}")
    print(json.dumps(res["summary"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    if args.write_manifest:
        path = Path(args.model) / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest.setdefault("quality", {})["bench"] = {**res["summary"],
                                                       "measured_by": "python bench/bench_cmt.py --write-manifest"}
        path.write_text(json.dumps(manifest, indent=1))
        print(f"wrote the figures into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Duets (issue 14): two of the five instruments playing together, basic-pitch in the same run.

Every pair of the five instruments (10 pairs) plays ``--pieces`` duets: two
seeded melodies of export/transcription/melodies.py (seeds >= 10^9, never
trained on), each in its instrument's register, rendered separately with
FluidSynth and mixed (sum, peak-normalised), in two conditions: FluidR3_GM (a
training soundfont) and MuseScore_General (never heard in training).

- per-instrument onset F1 with attribution: the notes of instrument X's track
  against the notes X played (a note heard on the wrong track counts as a
  miss there and a false note on the other), pooled per instrument;
- instrument-agnostic multi-pitch onset F1: all transcribed notes against all
  played notes, for ours and for basic-pitch (Spotify's polyphonic,
  instrument-agnostic nmp.onnx, default thresholds) on the same mixtures;
- speed: real-time factor on one thread (file in -> notes out, decoding
  included) of ours, with its EQ views (duet.VIEWS_DB or ``--views``), and of
  basic-pitch on the same files, and the ratio of the two.

mir_eval note matching, 50 ms onsets, 50 cents, offsets ignored.
    .venv/bin/python bench/bench_transcription_duet.py [--pieces 3]
Writes bench/results/transcription_duet.json. Needs bench_transcription.py's bench-only extras.
``--dev`` measures 2 tuning duets per pair and condition instead (40; melody seeds DEV_OFFSET further), so a
candidate is chosen on other duets than the bench's; it writes bench/results/transcription_duet_dev.json.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):   # one thread, numpy's BLAS too
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_transcription import basic_pitch_model, basic_pitch_notes, counts, f1  # noqa: E402
from bench_transcription_ood import DEV_OFFSET, FONTS, PROGRAMS, render  # noqa: E402
from export.transcription.melodies import BENCH_SEEDS, melody  # noqa: E402
from plugins.transcription.audio import SAMPLE_RATE, read_audio, write_wav  # noqa: E402
from plugins.transcription.duet import VIEWS_DB, DuetTranscriber, check_views  # noqa: E402
from plugins.transcription.labels import instrument  # noqa: E402

SECONDS = 12.0
DUET_SEEDS = BENCH_SEEDS + 50_000   # apart from bench_transcription_ood's melodies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pieces", type=int, default=None,
                    help="duets per pair of instruments and condition (default 3; --dev: 2)")
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "transcription-duet")
    ap.add_argument("--dev", action="store_true",
                    help="tuning duets instead of the bench's: melody seeds DEV_OFFSET further "
                         "(default --out bench/results/transcription_duet_dev.json)")
    ap.add_argument("--out", type=Path, default=None, help="default bench/results/transcription_duet.json")
    ap.add_argument("--views", default=None, metavar="DB,DB",
                    help="EQ views, as cmt-bridge transcribe --duet --views (default: duet.VIEWS_DB)")
    ap.add_argument("--write-manifest", action="store_true", help="store the figures in the model's manifest")
    args = ap.parse_args(argv)
    if args.dev and args.write_manifest:
        ap.error("--write-manifest stores the bench's figures, not the tuning duets' (drop --dev)")
    default_pieces = 2 if args.dev else 3
    args.pieces = default_pieces if args.pieces is None else args.pieces
    if args.out is None:
        args.out = ROOT / "bench" / "results" / ("transcription_duet_dev.json" if args.dev else "transcription_duet.json")
    first_seed = DUET_SEEDS + (DEV_OFFSET if args.dev else 0)
    warnings.filterwarnings("ignore")
    views = VIEWS_DB if args.views is None else check_views(args.views)
    ours = DuetTranscriber.load(args.model, threads=1, views=views)
    bp = basic_pitch_model()
    names = list(PROGRAMS)                  # bench display names ("alto sax") -> the model's ("alto_sax")
    model_name = {n: instrument(n).name for n in names}
    pairs = list(itertools.combinations(names, 2))
    result: dict = {}
    t0 = time.time()
    clock = {"audio_s": 0.0, "ours_s": 0.0, "bp_s": 0.0}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for font in ("fluidr3", "musescore"):
            per_inst = {n: [0, 0, 0] for n in names}
            agn_ours, agn_bp = [0, 0, 0], [0, 0, 0]
            for p, pair in enumerate(pairs):
                for j in range(args.pieces):
                    parts, mix = {}, None
                    for k, name in enumerate(pair):
                        reg = instrument(name)
                        seed = first_seed + 1000 * p + 10 * j + k
                        notes = melody(seed, seconds=SECONDS, low=reg.low, high=reg.high)["notes"]
                        audio = read_audio(render(tmp, notes, PROGRAMS[name], font))
                        parts[name] = notes
                        mix = audio if mix is None else mix[:len(audio)] + audio[:len(mix)]
                    wav = tmp / "duet.wav"
                    write_wav(wav, mix / max(1e-6, float(np.abs(mix).max())) * 0.8)
                    if not clock["audio_s"]:   # warm-up: the first call of a session sets up its kernels
                        ours.transcribe_file(wav)
                        basic_pitch_notes(wav, bp)
                    clock["audio_s"] += len(mix) / SAMPLE_RATE
                    t1 = time.perf_counter()
                    heard = ours.transcribe_file(wav)
                    clock["ours_s"] += time.perf_counter() - t1
                    for name in names:
                        ref = np.array([(s, e, q) for s, e, q, _ in parts.get(name, [])], np.float64).reshape(-1, 3)
                        est = [(n.start, n.end, n.pitch) for n in heard.get(model_name[name], [])]
                        per_inst[name] = [a + b for a, b in zip(per_inst[name], counts(ref, est))]
                    ref_all = np.array([(s, e, q) for ns in parts.values() for s, e, q, _ in ns], np.float64)
                    est_all = [(n.start, n.end, n.pitch) for ns in heard.values() for n in ns]
                    agn_ours = [a + b for a, b in zip(agn_ours, counts(ref_all, est_all))]
                    t1 = time.perf_counter()
                    bp_notes = basic_pitch_notes(wav, bp)
                    clock["bp_s"] += time.perf_counter() - t1
                    agn_bp = [a + b for a, b in zip(agn_bp, counts(ref_all, bp_notes))]
                print(f"{font} {pair[0]}+{pair[1]} done ({time.time() - t0:.0f} s)", flush=True)
            result[font] = {"per_instrument_attributed": {n: f1(c) for n, c in per_inst.items()},
                            "instrument_agnostic": {"ours": f1(agn_ours), "basic_pitch": f1(agn_bp)}}
            row = result[font]
            print(font, " ".join(f"{n} {r['f1']:.3f}" for n, r in row["per_instrument_attributed"].items()),
                  f"| agnostic ours {row['instrument_agnostic']['ours']['f1']:.3f}"
                  f" basic-pitch {row['instrument_agnostic']['basic_pitch']['f1']:.3f}", flush=True)
    rtf = {"ours": round(clock["ours_s"] / clock["audio_s"], 5), "basic_pitch": round(clock["bp_s"] / clock["audio_s"], 5),
           "speedup": round(clock["bp_s"] / max(clock["ours_s"], 1e-9), 2), "views_db": list(views),
           "audio_seconds": round(clock["audio_s"], 1)}
    print(f"RTF on one thread: ours {rtf['ours']:.4f} ({len(views)} EQ views), basic-pitch {rtf['basic_pitch']:.4f}:"
          f" {rtf['speedup']:.2f}x", flush=True)
    attributed = [r["f1"] for c in result.values() for r in c["per_instrument_attributed"].values()]
    summary = {"min_attributed_f1": min(attributed), "attributed_cells_at_least_0.80": sum(x >= 0.8 for x in attributed),
               "cells": len(attributed),
               "agnostic_above_basic_pitch": {f: c["instrument_agnostic"]["ours"]["f1"] >
                                              c["instrument_agnostic"]["basic_pitch"]["f1"] for f, c in result.items()},
               "rtf_one_thread": rtf,
               "targets": "attributed onset F1 >= 0.80 per instrument; instrument-agnostic above basic-pitch; "
                          "RTF <= 0.01 on one thread"}
    manifest = json.loads((args.model / "manifest.json").read_text())
    out = {"setup": {"pairs": len(pairs), "pieces_per_pair": args.pieces, "seconds": SECONDS,
                     "fonts": {f: FONTS[f] for f in result}, "metric": "mir_eval note onset F1, 50 ms, 50 cents, no offsets",
                     "command": "python bench/bench_transcription_duet.py" + (" --write-manifest" if args.write_manifest else "") +
                                (" --dev" if args.dev else "") +
                                (f" --pieces {args.pieces}" if args.pieces != default_pieces else "") +
                                (f" --views={args.views}" if args.views is not None else ""),
                     "model": manifest.get("version", ""), "melody_seeds_from": first_seed,
                     "load_average": list(os.getloadavg())},
           "conditions": result, "summary": summary}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))
    if args.write_manifest:   # the held-out figures travel with the model
        manifest["quality"] = {"bench": {"summary": summary, "setup": out["setup"], "attributed_f1": {
            f: {n: r["f1"] for n, r in c["per_instrument_attributed"].items()} for f, c in result.items()},
            "agnostic_f1": {f: {k: v["f1"] for k, v in c["instrument_agnostic"].items()} for f, c in result.items()}},
            "bench_command": "python bench/bench_transcription_duet.py --write-manifest"}
        (args.model / "manifest.json").write_text(json.dumps(manifest, indent=1))
        print(f"wrote the figures into {args.model / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Transcription benchmark: our cross-modal VAE against Spotify's basic-pitch, in the same run.

On the held-out rendered melodies (data/transcription/test: test-split tunes, never trained on),
per instrument:
- note-level onset F1 (mir_eval, 50 ms onset tolerance, pitch within 50 cents, offsets ignored)
  for both systems with their default thresholds;
- real-time factor on ONE thread (wall time / audio time, WAV file in -> notes out) for both;
- live: the streaming path in 256-sample blocks, note-on latency from the true onset to the moment
  the note-on is known (audio look-ahead + block + compute), and its own note F1;
- generation: log-spectral distance between the model's synthesis of the reference notes and the
  FluidSynth rendering, against a sine-synthesis baseline.

Needs the bench-only extras (no TensorFlow):
    pip install --no-deps basic-pitch mir_eval "resampy<0.4.3" "setuptools<81"
    pip install librosa pretty_midi scikit-learn
Run:  python bench/bench_transcription.py [--write-manifest] [--quick]
Writes bench/results/transcription.json (and the "quality" key of the model's manifest).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugins.transcription import features, synth  # noqa: E402
from plugins.transcription.audio import SAMPLE_RATE, read_audio  # noqa: E402
from plugins.transcription.labels import INSTRUMENT_NAMES  # noqa: E402
from plugins.transcription.stream import LATENCY_SECONDS, StreamTranscriber  # noqa: E402
from plugins.transcription.transcriber import Transcriber  # noqa: E402

BLOCK = 256  # live block, samples (16 ms)
FONTS = ("fluidr3", "timgm6mb", "musescore")  # see export/transcription/data.py


def counts(ref: np.ndarray, est: list[tuple[float, float, int]]) -> tuple[int, int, int]:
    """(matched, reference notes, estimated notes) with mir_eval's onset-only matching."""
    import mir_eval

    if len(ref) == 0 or len(est) == 0:
        return 0, len(ref), len(est)
    e = np.asarray(est, np.float64)
    ri, rp = ref[:, :2].astype(np.float64), features.midi_to_hz(ref[:, 2])
    ei, ep = e[:, :2].copy(), features.midi_to_hz(e[:, 2])
    ei[:, 1] = np.maximum(ei[:, 1], ei[:, 0] + 1e-3)
    match = mir_eval.transcription.match_notes(ri, rp, ei, ep, onset_tolerance=0.05, pitch_tolerance=50.0,
                                               offset_ratio=None)
    return len(match), len(ref), len(e)


def f1(c: list[int]) -> dict:
    tp, nr, ne = c
    p, r = tp / max(ne, 1), tp / max(nr, 1)
    return {"f1": round(2 * p * r / max(p + r, 1e-9), 4), "precision": round(p, 4), "recall": round(r, 4),
            "ref_notes": nr, "est_notes": ne}


def basic_pitch_notes(wav: Path, model) -> list[tuple[float, float, int]]:
    """basic-pitch's notes (start s, end s, MIDI pitch) of a file, its progress prints silenced."""
    import os

    from basic_pitch.inference import predict

    with open(os.devnull, "w") as null:
        old = sys.stdout
        sys.stdout = null
        try:
            events = predict(str(wav), model)[2]
        finally:
            sys.stdout = old
    return [(float(s), float(e), int(p)) for s, e, p, *_ in events]


def basic_pitch_model():
    import onnxruntime as ort
    from basic_pitch import ICASSP_2022_MODEL_PATH
    from basic_pitch.inference import Model

    path = Path(ICASSP_2022_MODEL_PATH)
    onnx_path = path if path.suffix == ".onnx" else path.with_name("nmp.onnx")
    model = Model(onnx_path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    model.model = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
    return model


def live(model: Transcriber, samples: np.ndarray, ref: np.ndarray) -> dict:
    stream = StreamTranscriber(model)
    emitted: list[tuple[float, int, float]] = []  # (known at audio time + compute, pitch, onset time)
    compute = []
    notes = []
    for i in range(0, len(samples), BLOCK):
        t0 = time.perf_counter()
        started, ended = stream.push(samples[i:i + BLOCK])
        dt = time.perf_counter() - t0
        compute.append(dt)
        for n in started:
            emitted.append((stream.seconds + dt, n.pitch, n.start))
        notes += ended
    notes += stream.close()
    lat = []
    for known, pitch, _ in emitted:
        near = ref[(ref[:, 2] == pitch) & (np.abs(ref[:, 0] - (known - LATENCY_SECONDS)) < 0.12)]
        if len(near):
            lat.append(known - near[np.argmin(np.abs(near[:, 0] - known + LATENCY_SECONDS)), 0])
    est = [(n.start, n.end, n.pitch) for n in notes]
    return {"counts": counts(ref, est), "latency": lat, "block_ms": [c * 1000 for c in compute]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "transcription" / "test")
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "transcription")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "transcription.json")
    ap.add_argument("--quick", action="store_true", help="first test chunk per instrument only, no basic-pitch")
    ap.add_argument("--no-basic-pitch", action="store_true")
    ap.add_argument("--write-manifest", action="store_true", help="add the figures to the model's manifest")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    ours = Transcriber.load(args.model, threads=1)
    bp = None
    if not (args.quick or args.no_basic_pitch):
        logging.getLogger().setLevel(logging.ERROR)
        from basic_pitch.inference import predict

        bp = basic_pitch_model()
    results: dict = {"instruments": {}, "by_soundfont": {}, "setup": {
        "data": "data/transcription/test: test-split folk tunes (never trained on) rendered with FluidSynth, "
                "2 chunks x 25 two-bar clips per instrument and soundfont; fluidr3 and timgm6mb are the training "
                "soundfonts, musescore (MuseScore_General_Lite) is never heard in training",
        "metric": "mir_eval note onset F1, 50 ms, 50 cents, no offsets", "threads": 1, "block_samples": BLOCK,
        "sample_rate": SAMPLE_RATE,
        "basic_pitch": "default thresholds (onset 0.5, frame 0.3, min length 127.7 ms), nmp.onnx, 1 thread"}}
    tot = {"ours_s": 0.0, "bp_s": 0.0, "audio_s": 0.0}
    all_lat, all_block = [], []
    for font in FONTS:
        suffix = "" if font == "fluidr3" else f"_{font}"
        primary = font == "fluidr3"
        if not sorted(args.data.glob(f"*_[0-9][0-9][0-9]{suffix}.wav")):
            print(f"no {font} test audio in {args.data}: skipped")
            continue
        rows = results["by_soundfont"].setdefault(font, {})
        for inst in INSTRUMENT_NAMES:
            wavs = sorted(args.data.glob(f"{inst}_[0-9][0-9][0-9]{suffix}.wav"))[: 1 if args.quick else None]
            if not wavs:
                print(f"no test audio for {inst} in {args.data} (cmt-bridge data prepare transcription)")
                return 2
            c_ours, c_bp, c_live = [0, 0, 0], [0, 0, 0], [0, 0, 0]
            gen, sine = [], []
            lat = []
            for wav in wavs:
                ref = np.load(wav.with_suffix(".npz"))["notes"].astype(np.float64)
                samples = read_audio(wav)
                tot["audio_s"] += len(samples) / SAMPLE_RATE
                ours.transcribe_file(wav)  # warm-up
                t0 = time.perf_counter()
                notes = ours.transcribe_file(wav)
                tot["ours_s"] += time.perf_counter() - t0
                c_ours = [a + b for a, b in zip(c_ours, counts(ref, [(n.start, n.end, n.pitch) for n in notes]))]
                if bp is not None:
                    t0 = time.perf_counter()
                    _, _, events = predict(wav, bp)
                    tot["bp_s"] += time.perf_counter() - t0
                    c_bp = [a + b for a, b in zip(c_bp, counts(ref, [(e[0], e[1], int(e[2])) for e in events]))]
                if not primary:
                    continue
                lv = live(ours, samples, ref)
                c_live = [a + b for a, b in zip(c_live, lv["counts"])]
                lat += lv["latency"]
                all_block += lv["block_ms"]
                clip = samples[: 30 * SAMPLE_RATE]
                notes30 = [tuple(n) for n in ref if n[1] <= 30.0]
                gen.append(synth.spectral_distance(synth.synthesize_notes(ours, notes30, inst)[: len(clip)], clip))
                sine.append(synth.spectral_distance(synth.sine_baseline(notes30, len(clip)), clip))
            row = {"ours": f1(c_ours)}
            if bp is not None:
                row["basic_pitch"] = f1(c_bp)
            if primary:
                all_lat += lat
                row["live"] = f1(c_live)
                row["live_latency_ms_median"] = round(1000 * float(np.median(lat)), 1) if lat else None
                row["generation_log_spectral_distance"] = {"ours": round(float(np.mean(gen)), 3),
                                                           "sine_baseline": round(float(np.mean(sine)), 3)}
                results["instruments"][inst] = row
            rows[inst] = row
            print(f"{font:9s} {inst:9s} F1 ours {row['ours']['f1']:.3f}"
                  + (f"  basic-pitch {row['basic_pitch']['f1']:.3f}" if bp is not None else "")
                  + (f"  live {row['live']['f1']:.3f}  gen {row['generation_log_spectral_distance']}" if primary else ""),
                  flush=True)
    results["rtf_one_thread"] = {"ours": round(tot["ours_s"] / tot["audio_s"], 5)}
    if bp is not None:
        results["rtf_one_thread"]["basic_pitch"] = round(tot["bp_s"] / tot["audio_s"], 5)
        results["rtf_one_thread"]["speedup"] = round(tot["bp_s"] / max(tot["ours_s"], 1e-9), 1)
    results["live"] = {"lookahead_ms": round(1000 * LATENCY_SECONDS, 1),
                       "note_on_latency_ms": {"median": round(1000 * float(np.median(all_lat)), 1),
                                              "p95": round(1000 * float(np.percentile(all_lat, 95)), 1)}
                       if all_lat else None,
                       "block_compute_ms": {"median": round(float(np.median(all_block)), 3),
                                            "p99": round(float(np.percentile(all_block, 99)), 3)}}
    results["audio_seconds"] = round(tot["audio_s"], 1)
    print(json.dumps({k: results[k] for k in ("rtf_one_thread", "live")}, indent=1))
    if not args.quick:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(args.out)
    if args.write_manifest and not args.quick:
        mpath = args.model / "manifest.json"
        manifest = json.loads(mpath.read_text())
        by_font = results["by_soundfont"]
        manifest["quality"] = {"onset_f1_per_instrument": {k: v["ours"]["f1"] for k, v in results["instruments"].items()},
                               "basic_pitch_onset_f1": {k: v.get("basic_pitch", {}).get("f1")
                                                        for k, v in results["instruments"].items()},
                               "onset_f1_by_soundfont": {f: {k: {"ours": v["ours"]["f1"],
                                                                 "basic_pitch": v.get("basic_pitch", {}).get("f1")}
                                                             for k, v in rows.items()} for f, rows in by_font.items()},
                               "rtf_one_thread": results["rtf_one_thread"], "live": results["live"],
                               "generation": {k: v["generation_log_spectral_distance"]
                                              for k, v in results["instruments"].items()},
                               "measured_by": "python bench/bench_transcription.py --write-manifest",
                               "setup": results["setup"]}
        mpath.write_text(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())

"""Visuals benchmark (issue 13): sync with the music, distinctness, speed and memory, on held-out music.

Held-out music: ``--pieces`` generated pieces (bench/visuals_music.py, seeds 0..N-1; the
embedding reference was measured on seeds 1000+) rendered with MuseScore_General, a
soundfont the tagger never heard. For each piece:

- ``cmt-bridge visualize`` runs as a user runs it (a subprocess, 512 px, 30 fps, encode
  and audio mux included): real-time factor = audio seconds / wall seconds, and audio
  seconds / CPU seconds (all its threads: what it costs, whatever the machine's load);
  peak RSS of the children (ru_maxrss);
- sync = Pearson r between the benchmark's own onset strength (bench/visuals_metrics.py,
  not the plugin's features) and the frame-to-frame change of the decoded video; the
  control shifts the audio by 5 s; the lag of the best r in -5..5 frames;
- the same measure for a baseline in the same run: the same shader and walk with
  motion and pulse driven by the audio level (RMS, as a simple VU-style visualiser),
  and for ours, both rendered in-process at 128 px;
- distinctness: Spearman between the pieces' pairwise tagger-embedding distances and
  their videos' pairwise image-feature distances; the closest pair of videos; the same
  piece and seed twice gives the same frames;
- the peer in the same run: butterchurn (MilkDrop in WebGL) in headless chromium, fed the
  same audio frame by frame, three named presets, the same sync measure at 128 px
  (bench/butterchurn_peer.py; ``bash bench/setup_butterchurn.sh`` installs it; when it is
  missing the bench says so in one line and records it as not run).

Live renderer speed on ONE core (a subprocess pinned to CPU 0, llvmpipe with
LP_NUM_THREADS=1): frames per second of the live path (features + steering +
render + read-back) at 512 x 512, beside a small ONNX conv decoder (random weights:
speed only) at the same size on one thread.

    .venv/bin/python bench/bench_visuals.py [--pieces 10] [--seconds 20] [--work /tmp/cmt-visuals-bench]
                                            [--no-butterchurn | --butterchurn-only]

``--butterchurn-only`` runs only the peer on the pieces of an existing results file and
merges its figures into it (the other figures, speed included, stay as measured).

Writes bench/results/visuals.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import butterchurn_peer as bp  # noqa: E402
import visuals_metrics as vm  # noqa: E402
from visuals_music import render_piece  # noqa: E402

FONT = "/usr/share/sounds/sf3/MuseScore_General.sf3"
SIZE, FPS = 512, 30.0
SMALL = 128


def decode_video(path: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """(grey 128 px frames, every 10th frame in RGB at 128 px) of an MP4."""
    import av

    greys, rgbs = [], []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            rgb = f.to_ndarray(format="rgb24")
            greys.append(vm.grey_small(rgb, SMALL))
            if i % 10 == 0:
                k = rgb.shape[0] // SMALL
                rgbs.append(rgb[::k, ::k])
    return np.stack(greys), rgbs


def run_cli(wav: Path, out: Path, seed: int = 0) -> tuple[float, float, float]:
    """(wall s, CPU s of the child: user + system, every thread, peak RSS MB) of one ``visualize``.

    The peak RSS comes from GNU time (``%M``): a child forked from this (large) process would
    report this process's pages in its own ru_maxrss.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = out.with_suffix(".rss")
    began = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(stats), str(ROOT / ".venv" / "bin" / "cmt-bridge"),
                    "visualize", str(wav), "-o", str(out), "--size", str(SIZE), "--fps", str(FPS), "--seed", str(seed),
                    "--sheet", ""], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rss_mb = int(stats.read_text().split()[-1]) / 1024
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), rss_mb


def in_process_sync(wav: Path, tagger, onset: np.ndarray) -> dict:
    """Ours and the level-driven baseline, rendered in-process at 128 px, same shader, same walk."""
    from bridge.api import read_audio
    from plugins.visuals.analysis import analyse, frame_vectors
    from plugins.visuals.render import ShaderRenderer

    a = analyse(read_audio(wav, tagger.rate), tagger, FPS)
    ours = frame_vectors(a, 0)
    level = np.clip((a.features.level + 50.0) / 38.0, 0.0, 1.0)       # the same dB range the walker uses
    a.features.onset = level.astype(np.float32)                       # baseline: loudness drives motion and pulse
    base = frame_vectors(a, 0)
    out = {}
    with ShaderRenderer(SMALL) as r:
        for name, vectors in (("ours_128px", ours), ("level_baseline_128px", base)):
            greys = np.stack([vm.grey_small(r.render(v), SMALL) for v in vectors])
            out[name] = vm.sync(onset, vm.frame_change(greys), FPS)
    return out


def open_butterchurn(stack: ExitStack, args: argparse.Namespace) -> tuple[bp.ButterchurnPeer | None, str | None]:
    """(the peer, None), or (None, why it is not run): one line on stderr, never an exception."""
    if args.no_butterchurn:
        return None, "skipped (--no-butterchurn)"
    why = bp.unavailable()
    if why is None:
        try:
            return stack.enter_context(bp.ButterchurnPeer(args.butterchurn_size)), None
        except Exception as e:  # noqa: BLE001 - a peer that cannot start is recorded, not fatal
            why = f"chromium/butterchurn failed to start: {str(e).splitlines()[0]}"
    print(f"butterchurn peer not run: {why}", file=sys.stderr)
    return None, why


def butterchurn_piece(peer: bp.ButterchurnPeer | None, wav: Path, onset: np.ndarray) -> dict | None:
    """{preset: sync} of the peer on one piece (the same onset curve and frame count as ours), or None."""
    if peer is None:
        return None
    import soundfile

    stereo, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
    try:
        return bp.peer_sync(peer, stereo[:, :2], rate, onset, FPS)
    except Exception as e:  # noqa: BLE001 - one failed piece marks the peer as not run, the bench goes on
        print(f"butterchurn peer failed on {wav.name}: {str(e).splitlines()[0]}", file=sys.stderr)
        return None


def butterchurn_figures(peer: bp.ButterchurnPeer | None, why: str | None, rows: list[dict], key: str,
                        ours_median: float, size: int) -> tuple[dict, dict]:
    """(summary figures, setup entry) of the peer; a peer that did not run on every piece is 'not run'."""
    if why is None and any(r.get(key) is None for r in rows):
        why = "failed on a piece (see the log)"
    setup = {"run": why is None, "reason": why, "versions": bp.versions(), "presets": list(bp.PRESETS),
             "size_px": size, "gl_renderer": peer.gl_renderer if peer else None,
             "feed": "per frame: the 1024 samples centred on the frame's middle as AnalyserNode bytes "
                     "(render({audioLevels, elapsedTime: 1/fps})), seeded Math.random; grey 128 px frames",
             "load_average": os.getloadavg()}
    if why is not None:
        return {"sync_r_butterchurn_median": None, "sync_ratio_vs_butterchurn": None}, setup
    return bp.summarise(rows, key, ours_median), setup


def butterchurn_only(args: argparse.Namespace) -> int:
    """Run only the peer on the pieces of ``args.out`` and merge its figures into it."""
    import soundfile

    doc = json.loads(args.out.read_text())
    key = f"butterchurn_{args.butterchurn_size}px"
    with ExitStack() as stack:
        peer, why = open_butterchurn(stack, args)
        for row in doc["pieces"]:
            wav = args.work / f"piece{row['piece']}.wav"
            if not wav.is_file():
                render_piece(row["piece"], wav, doc["setup"]["seconds"], font=FONT)
            mono, rate = soundfile.read(str(wav), dtype="float32", always_2d=True)
            onset = vm.onset_strength(mono.mean(axis=1), rate, FPS, row["frames"])
            began = time.perf_counter()
            row[key] = butterchurn_piece(peer, wav, onset)
            if row[key]:
                print(f"piece {row['piece']}: butterchurn r " + ", ".join(f"{s['r']:.2f}" for s in row[key].values())
                      + f" (ours {row['ours_128px']['r']:.2f}) in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        summary, setup = butterchurn_figures(peer, why, doc["pieces"], key, doc["summary"]["sync_r_ours_128px_median"],
                                             args.butterchurn_size)
    doc["summary"] = {k: v for k, v in doc["summary"].items() if "butterchurn" not in k} | summary
    doc["setup"]["butterchurn"] = setup | {"command": "python bench/bench_visuals.py --butterchurn-only"}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


def live_fps_worker(wav: str) -> None:
    """One core: the live path's frames per second at 512 px, and an ONNX conv decoder's beside it."""
    os.sched_setaffinity(0, {0})
    from bridge.api import read_audio
    from plugins.tagger.tagger import Tagger
    from plugins.visuals.live import LiveSteering
    from plugins.visuals.render import ShaderRenderer

    tagger = Tagger.load()
    x = read_audio(wav, tagger.rate)
    steer = LiveSteering(tagger, FPS, seed=0)
    frames, pos = 300, 0
    with ShaderRenderer(SIZE) as r:
        for _ in range(10):
            r.render(steer.frame(lambda n: x[max(0, pos - n):pos]))
        began, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        for i in range(frames):
            pos = int((i + 10) / FPS * tagger.rate)
            r.render(steer.frame(lambda n, p=pos: x[max(0, p - n):p]))
        live = frames / (time.perf_counter() - began)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(json.dumps({"live_fps": live, "live_frames_per_cpu_s": frames / cpu, "conv_decoder_fps": conv_decoder_fps()}))


def conv_decoder_fps(n: int = 8) -> float:
    """A small conv decoder (latent 64 -> 8x8x64 -> six (2x upsample + 3x3 conv) -> 512x512x3), 1 thread."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((64, 64 * 8 * 8)).astype(np.float32) * 0.1, "fc"),
             numpy_helper.from_array(np.array([1, 64, 8, 8], np.int64), "shape"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("MatMul", ["z", "fc"], ["h0"]), helper.make_node("Reshape", ["h0", "shape"], ["x0"])]
    chans = [64, 64, 48, 32, 24, 16, 3]
    for i in range(6):
        w = rng.standard_normal((chans[i + 1], chans[i], 3, 3)).astype(np.float32) * 0.1
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Resize", [f"x{i}", "", "scales"], [f"u{i}"], mode="nearest"),
                  helper.make_node("Conv", [f"u{i}", f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu" if i < 5 else "Tanh", [f"c{i}"], [f"x{i + 1}"])]
    graph = helper.make_graph(nodes, "conv_decoder", [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 64])],
                              [helper.make_tensor_value_info("x6", TensorProto.FLOAT, [1, 3, 512, 512])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    z = rng.standard_normal((1, 64)).astype(np.float32)
    sess.run(None, {"z": z})
    began = time.perf_counter()
    for _ in range(n):
        sess.run(None, {"z": z})
    return n / (time.perf_counter() - began)


def med_of(rows: list[dict], key: str, sub: str = "r") -> float:
    return round(float(np.median([r[key][sub] for r in rows])), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pieces", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/cmt-visuals-bench"))
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "visuals.json")
    ap.add_argument("--no-butterchurn", action="store_true", help="skip the butterchurn peer")
    ap.add_argument("--butterchurn-only", action="store_true",
                    help="run only the butterchurn peer on the pieces of --out and merge its figures into it")
    ap.add_argument("--butterchurn-size", type=int, default=SMALL, help="the peer's canvas side, px")
    ap.add_argument("--live-fps-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.live_fps_worker:
        live_fps_worker(args.live_fps_worker)
        return 0
    if args.butterchurn_only:
        return butterchurn_only(args)
    import soundfile

    from plugins.tagger.tagger import Tagger

    args.work.mkdir(parents=True, exist_ok=True)
    tagger = Tagger.load()
    rows, embeddings, features, curves = [], [], [], []
    stack = ExitStack()
    peer, peer_why = open_butterchurn(stack, args)
    bc_key = f"butterchurn_{args.butterchurn_size}px"
    for k in range(args.pieces):
        wav = args.work / f"piece{k}.wav"
        if not wav.is_file():
            render_piece(k, wav, args.seconds, font=FONT)
        samples, rate = soundfile.read(str(wav), dtype="float32")
        samples = samples.mean(axis=1) if samples.ndim == 2 else samples
        seconds = len(samples) / rate
        video = args.work / f"piece{k}.mp4"
        wall, cpu, rss = run_cli(wav, video)
        greys, rgbs = decode_video(video)
        onset = vm.onset_strength(samples, rate, FPS, len(greys))
        row = {"piece": k, "seconds": round(seconds, 2), "frames": len(greys), "wall_s": round(wall, 2),
               "realtime_factor": round(seconds / wall, 3), "cpu_s": round(cpu, 2),
               "cpu_realtime_factor": round(seconds / cpu, 3), "peak_rss_mb": round(rss, 1), "video_512px": vm.sync(onset, vm.frame_change(greys), FPS)}
        row |= in_process_sync(wav, tagger, onset)
        row[bc_key] = butterchurn_piece(peer, wav, onset)
        tl = tagger.tag_file(wav, 1.0)
        embeddings.append(tl.pooled_embedding())
        features.append(vm.video_feature(rgbs, greys))
        curves.append((onset, vm.frame_change(greys)))
        if k == 0:
            again = args.work / "piece0.again.mp4"
            run_cli(wav, again)
            row["same_seed_max_abs_diff"] = float(np.abs(decode_video(again)[0] - greys).max())
        rows.append(row)
        print(f"piece {k}: {seconds:.1f} s in {wall:.1f} s ({seconds / wall:.2f}x), sync r "
              f"{row['video_512px']['r']:.2f} (control {row['video_512px']['control_shifted']:.2f}, lag "
              f"{row['video_512px']['best_lag_frames']}), level baseline r {row['level_baseline_128px']['r']:.2f}",
              file=sys.stderr)
    bc_summary, bc_setup = butterchurn_figures(peer, peer_why, rows, bc_key, med_of(rows, "ours_128px"),
                                               args.butterchurn_size)
    stack.close()
    peak_rss_mb = max(r["peak_rss_mb"] for r in rows)
    # control 2: each video against the next piece's audio (a shift can land on whole beats of a steady piece)
    mismatched = []
    for k in range(len(curves)):
        onset, change = curves[(k + 1) % len(curves)][0], curves[k][1]
        n = min(len(onset), len(change))
        mismatched.append(vm.sync(onset[:n], change[:n], FPS)["r"])
    e, f = np.stack(embeddings), np.stack(features)
    iu = np.triu_indices(len(e), 1)
    d_emb = np.linalg.norm(e[:, None] - e[None], axis=2)[iu]
    d_img = np.linalg.norm(f[:, None] - f[None], axis=2)[iu]
    live = json.loads(subprocess.run([sys.executable, __file__, "--live-fps-worker", str(args.work / "piece0.wav")],
                                     env={**os.environ, "LP_NUM_THREADS": "1"}, check=True, capture_output=True,
                                     text=True).stdout)

    def med(key: str, sub: str = "r") -> float:
        return med_of(rows, key, sub)

    summary = {
        "sync_r_median": med("video_512px"), "sync_control_shifted_median": med("video_512px", "control_shifted"),
        "sync_control_other_piece_median": round(float(np.median(mismatched)), 3),
        "sync_control_shifted_max": round(float(max(r["video_512px"]["control_shifted"] for r in rows)), 3),
        "sync_best_lag_frames": [r["video_512px"]["best_lag_frames"] for r in rows],
        "sync_r_ours_128px_median": med("ours_128px"), "sync_r_level_baseline_128px_median": med("level_baseline_128px"),
        "sync_ratio_vs_level_baseline": round(med("ours_128px") / max(1e-6, med("level_baseline_128px")), 2),
        "distinctness_spearman": round(vm.spearman(d_emb, d_img), 3),
        "closest_pair_feature_distance": round(float(d_img.min()), 4),
        "median_pair_feature_distance": round(float(np.median(d_img)), 4),
        "same_piece_same_seed_max_abs_diff": rows[0]["same_seed_max_abs_diff"],
        "video_realtime_factor_median": round(float(np.median([r["realtime_factor"] for r in rows])), 3),
        "video_realtime_factor_min": round(float(min(r["realtime_factor"] for r in rows)), 3),
        "video_cpu_realtime_factor_median": round(float(np.median([r["cpu_realtime_factor"] for r in rows])), 3),
        "metamusic_realtime_factor": 0.03,
        "live_fps_512px_one_core": round(live["live_fps"], 1),
        "live_frames_per_cpu_second": round(live["live_frames_per_cpu_s"], 1),
        "conv_decoder_fps_512px_one_core": round(live["conv_decoder_fps"], 2),
        "live_fps_ratio_vs_conv_decoder": round(live["live_fps"] / live["conv_decoder_fps"], 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
    } | bc_summary
    doc = {"setup": {"pieces": args.pieces, "seconds": args.seconds, "soundfont": FONT, "size": SIZE, "fps": FPS,
                     "load_average": os.getloadavg(), "cpus": os.cpu_count(), "butterchurn": bc_setup,
                     "command": "python bench/bench_visuals.py", "note": "RTF and fps are wall-clock on a shared "
                     "machine; the load average at the end of the run is recorded"},
           "summary": summary, "pieces": rows}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tagger benchmark (issue 12): held-out ROC-AUC / PR-AUC per tag, musicnn in the same run, speed.

On data/tagger/test (pieces never rendered for training) split into
``unseen_font`` (MuseScore_General, a soundfont never heard in training) and
``seen_fonts`` (FluidR3 + TimGM6mb renders of the unseen pieces):

- the shipped ONNX model (onnx_models/tagger, through bridge.runtime.ModelBundle);
- CLMR linear and CLMR MLP (frozen NT-Xent encoder + head; runs/tagger-clmr/{linear,mlp}.pt),
  the supervised baseline with the same encoder (runs/tagger/ckpt.pt), when their runs exist;
- the floor: log-mel statistics (mean and std per band) + logistic regression, fit in this run;
- musicnn 0.1.0 (MTT_musicnn) zero-shot on the tags both vocabularies share, in its own venv
  (bench/setup_musicnn.sh) by subprocess (bench/musicnn_runner.py);
- speed on ONE thread: tags for one 3 s window (the plugin's hop is at most one window, so this
  bounds the cost of 1 s of audio at a 1 s hop), onnxruntime against torch eager and against the
  floor's feature extraction in numpy, in this run.

    .venv/bin/python bench/bench_tagger.py [--write-manifest] [--musicnn-clips N] [--no-musicnn]

Writes bench/results/tagger.json (and the manifest's "quality" key with --write-manifest).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.runtime import MANIFEST, ModelBundle  # noqa: E402
from export.tagger import data, vocab  # noqa: E402

MUSICNN_VENV = Path(os.environ.get("MUSICNN_VENV", "/work/.bench-musicnn"))
#: our tag <- musicnn MTT tags (max of their probabilities)
SHARED = {"piano": ["piano", "harpsichord"], "guitar": ["guitar"], "strings": ["strings", "violin", "cello"],
          "woodwind": ["flute"], "drums": ["drums"], "synth_pad": ["synth"], "solo": ["solo"],
          "fast": ["fast"], "slow": ["slow"], "loud": ["loud"], "soft": ["quiet", "soft"]}
SUBSETS = {"unseen_font": ("musescore",), "seen_fonts": ("fluidr3", "timgm6mb")}


def scores(labels: np.ndarray, probs: np.ndarray, tags: list[str]) -> dict:
    """Per-tag and macro ROC-AUC / PR-AUC (tags with both classes present)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    per = {}
    for t in tags:
        j = vocab.TAGS.index(t)
        y = labels[:, j]
        if 0 < y.sum() < len(y):
            per[t] = {"roc_auc": float(roc_auc_score(y, probs[:, j])),
                      "pr_auc": float(average_precision_score(y, probs[:, j])), "positives": int(y.sum())}
    return {"macro_roc_auc": float(np.mean([v["roc_auc"] for v in per.values()])),
            "macro_pr_auc": float(np.mean([v["pr_auc"] for v in per.values()])), "per_tag": per}


def logmel_stats(audio: np.ndarray) -> np.ndarray:
    """The floor's features: mean and std over time of a numpy log-mel (same STFT/mel as the model)."""
    from export.tagger.model import HOP, N_FFT, mel_matrix

    mel = mel_matrix()
    win = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    out = []
    for x in audio:
        x = x.astype(np.float32) / (32768.0 if audio.dtype == np.int16 else 1.0)
        frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP] * win
        lm = np.log(np.abs(np.fft.rfft(frames, axis=1)) ** 2 @ mel + 1e-6)
        out.append(np.concatenate([lm.mean(0), lm.std(0)]))
    return np.stack(out)


def floor(train: dict, test_audio: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression per tag on standardised log-mel statistics; (probs [n, T], fit seconds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    t0 = time.time()
    x = logmel_stats(train["audio"])
    sc = StandardScaler().fit(x)
    xt = sc.transform(logmel_stats(test_audio))
    probs = np.zeros((len(test_audio), len(vocab.TAGS)))
    for j in range(len(vocab.TAGS)):
        y = train["labels"][:, j]
        clf = LogisticRegression(max_iter=500, C=1.0).fit(sc.transform(x), y)
        probs[:, j] = clf.predict_proba(xt)[:, 1]
    return probs, time.time() - t0


def torch_probs(ckpt: Path, audio: np.ndarray) -> np.ndarray | None:
    if not ckpt.is_file():
        return None
    from export.tagger.train import load_tagger, predict

    model, _ = load_tagger(ckpt)
    return 1 / (1 + np.exp(-predict(model, audio)[0]))


def onnx_probs(bundle: ModelBundle, audio: np.ndarray, batch: int = 64) -> np.ndarray:
    g = bundle.graph("tagger")
    lo = np.concatenate([g.run(audio=audio[i:i + batch].astype(np.float32) / 32768.0)["logits"]
                         for i in range(0, len(audio), batch)])
    return 1 / (1 + np.exp(-lo))


def musicnn(audio: np.ndarray) -> dict | None:
    """Zero-shot musicnn probabilities on our shared tags, via its own venv; None when it is not installed."""
    py = MUSICNN_VENV / "bin" / "python"
    if not py.exists():
        print(f"musicnn: no venv at {MUSICNN_VENV} (bash bench/setup_musicnn.sh); skipped", file=sys.stderr)
        return None
    import hashlib

    cache = data.data_dir() / f"musicnn_{hashlib.sha256(audio.tobytes()).hexdigest()[:16]}.npz"
    if not cache.is_file():  # musicnn's outputs for these exact clips (data/ is a cache; rebuilt on demand)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "in.npy", audio.astype(np.float32) / 32768.0)
            env = dict(os.environ, TF_USE_LEGACY_KERAS="1", CUDA_VISIBLE_DEVICES="")
            subprocess.run([str(py), str(ROOT / "bench" / "musicnn_runner.py"), str(Path(tmp) / "in.npy"),
                            str(Path(tmp) / "out.npz")], check=True, env=env, stderr=subprocess.DEVNULL)
            cache.parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "out.npz").replace(cache)
    d = dict(np.load(cache))
    names = list(d["labels"])
    probs = np.zeros((len(audio), len(vocab.TAGS)))
    for tag, theirs in SHARED.items():
        probs[:, vocab.TAGS.index(tag)] = d["probs"][:, [names.index(t) for t in theirs]].max(1)
    return {"probs": probs, "seconds_per_clip": float(d["seconds"]) / len(audio),
            "variables_checked": int(d["variables_checked"]), "penultimate": d["penultimate"]}


def speed(bundle: ModelBundle, ckpt: Path | None, window: np.ndarray, reps: int = 50) -> dict:
    """Median ms per 3 s window on one thread: onnxruntime, torch eager, the floor's numpy features."""
    def med(fn) -> float:
        fn()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return float(np.median(ts) * 1000)

    x = window[None].astype(np.float32) / 32768.0
    g = bundle.graph("tagger")
    out = {"onnxruntime_ms_per_window": med(lambda: g.run(audio=x)),
           "floor_features_ms_per_window": med(lambda: logmel_stats(window[None]))}
    if ckpt is not None and ckpt.is_file():
        import torch

        from export.tagger.train import load_tagger

        torch.set_num_threads(1)
        model, _ = load_tagger(ckpt)
        xt = torch.from_numpy(x)
        with torch.no_grad():
            out["torch_eager_ms_per_window"] = med(lambda: model(xt))
        out["speedup_vs_torch"] = out["torch_eager_ms_per_window"] / out["onnxruntime_ms_per_window"]
    out["ms_per_second_of_audio_hop_1s"] = out["onnxruntime_ms_per_window"]
    out["ms_per_second_of_audio_hop_3s"] = out["onnxruntime_ms_per_window"] / 3.0
    return out


def musicnn_probe(mn_train: dict, train_labels: np.ndarray, mn_test: dict) -> np.ndarray:
    """The fair second peer (CLMR's protocol): a logistic-regression probe on musicnn's embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(mn_train["penultimate"])
    x, xt = sc.transform(mn_train["penultimate"]), sc.transform(mn_test["penultimate"])
    probs = np.zeros((len(xt), len(vocab.TAGS)))
    for j in range(len(vocab.TAGS)):
        y = train_labels[:, j]
        if 0 < y.sum() < len(y):
            probs[:, j] = LogisticRegression(max_iter=500).fit(x, y).predict_proba(xt)[:, 1]
    return probs


def musicnn_picks(n_test: int, n_train: int, args) -> tuple[np.ndarray, np.ndarray]:
    """The test clips musicnn tags and the train clips of its probe (seeded, sorted)."""
    mpick = np.sort(np.random.default_rng(1).permutation(n_test)[:args.musicnn_clips]) if args.musicnn_clips \
        else np.arange(n_test)
    return mpick, np.sort(np.random.default_rng(2).permutation(n_train)[:args.musicnn_probe_train])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "onnx_models" / "tagger")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs")
    ap.add_argument("--floor-train", type=int, default=4000, help="training clips for the floor (default 4000)")
    ap.add_argument("--musicnn-clips", type=int, default=None, help="test clips for musicnn (default all)")
    ap.add_argument("--musicnn-probe-train", type=int, default=1200, help="train clips for the musicnn probe")
    ap.add_argument("--no-musicnn", action="store_true")
    ap.add_argument("--write-manifest", action="store_true")
    ap.add_argument("--musicnn-only", action="store_true", help="only run (and cache) musicnn on the clips, then stop")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tagger.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    t0 = time.time()
    test, train = data.load("test"), data.load("train")
    sub = {name: np.isin(test["font"], fonts) for name, fonts in SUBSETS.items()}
    if args.musicnn_only:
        mpick, tpick = musicnn_picks(len(test["audio"]), len(train["audio"]), args)
        musicnn(test["audio"][mpick])
        musicnn(train["audio"][tpick])
        return
    bundle = ModelBundle.load(args.model, threads=2)
    systems: dict[str, np.ndarray] = {"shipped (onnx)": onnx_probs(bundle, test["audio"])}
    ckpts = {"CLMR linear": args.runs / "tagger-clmr" / "linear.pt", "CLMR MLP": args.runs / "tagger-clmr" / "mlp.pt",
             "supervised": args.runs / "tagger" / "ckpt.pt"}
    for name, ck in ckpts.items():
        p = torch_probs(ck, test["audio"])
        if p is not None:
            systems[name] = p
    pick = np.random.default_rng(0).permutation(len(train["audio"]))[:args.floor_train]
    systems["floor (log-mel stats + logistic regression)"], floor_s = floor(
        {"audio": train["audio"][pick], "labels": train["labels"][pick]}, test["audio"])
    result: dict = {"setup": {
        "data": "data/tagger/test: pieces never rendered for training; unseen_font = MuseScore_General renders, "
                "seen_fonts = FluidR3 + TimGM6mb renders of the same unseen pieces",
        "clips": {k: int(v.sum()) for k, v in sub.items()}, "model": bundle.manifest["version"],
        "floor_train_clips": int(len(pick)), "floor_seconds": round(floor_s, 1),
        "metric": "ROC-AUC and PR-AUC (average precision) per tag, macro = mean over tags"}}
    result["systems"] = {name: {s: scores(test["labels"][m], p[m], vocab.TAGS) for s, m in sub.items()}
                         for name, p in systems.items()}
    if not args.no_musicnn:
        mpick, tpick = musicnn_picks(len(test["audio"]), len(train["audio"]), args)
        mn = musicnn(test["audio"][mpick])
        if mn is not None:
            shared = list(SHARED)
            mn_train = musicnn(train["audio"][tpick])
            probe = musicnn_probe(mn_train, train["labels"][tpick], mn)
            cmp = {}
            for s, fonts in SUBSETS.items():
                m = np.isin(test["font"][mpick], fonts)
                lab = test["labels"][mpick][m]
                cmp[s] = {"musicnn zero-shot": scores(lab, mn["probs"][m], shared),
                          "musicnn embeddings + logistic regression": scores(lab, probe[m], vocab.TAGS)}
                for name, p in systems.items():
                    cmp[s][name] = scores(lab, p[mpick][m], shared)
            result["musicnn"] = {"shared_tags": SHARED, "clips": int(len(mpick)), "comparison": cmp,
                                 "probe_train_clips": int(len(tpick)),
                                 "seconds_per_clip_one_thread": mn["seconds_per_clip"],
                                 "variables_checked": mn["variables_checked"],
                                 "input": "peak-normalised to -20 dBFS (musicnn's float16 mel overflows otherwise)"}
    ship_ckpt = Path(bundle.manifest["training"]["checkpoint"])
    result["speed_one_thread"] = speed(ModelBundle.load(args.model, threads=1),
                                       ROOT / ship_ckpt if not ship_ckpt.is_absolute() else ship_ckpt,
                                       test["audio"][0])
    probe = args.runs / "tagger-clmr" / "probe.json"
    if probe.is_file():
        result["clmr_label_fractions_valid"] = json.loads(probe.read_text())
    for name, ck in ckpts.items():
        if ck.is_file():
            st = torch.load(ck, weights_only=False, map_location="cpu")
            result.setdefault("training", {})[name] = {
                "steps": st.get("step", st.get("pretrain_steps")),
                "seconds": round(float(st.get("seconds", st.get("pretrain_seconds", 0))), 1),
                "batch": st["config"]["batch"], "mode": st["config"]["mode"]}
    result["load_average"] = os.getloadavg()[0]
    result["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for name, r in result["systems"].items():
        print(f"{name:48s} " + "  ".join(f"{s}: ROC {r[s]['macro_roc_auc']:.3f} PR {r[s]['macro_pr_auc']:.3f}"
                                         for s in SUBSETS))
    if "musicnn" in result:
        for s in SUBSETS:
            c = result["musicnn"]["comparison"][s]
            print(f"[{s}] shared tags macro ROC: musicnn {c['musicnn zero-shot']['macro_roc_auc']:.3f}, shipped "
                  f"{c['shipped (onnx)']['macro_roc_auc']:.3f}")
    sp = result["speed_one_thread"]
    print(f"one thread: {sp['onnxruntime_ms_per_window']:.2f} ms per 3 s window (onnxruntime); "
          f"torch eager {sp.get('torch_eager_ms_per_window', float('nan')):.2f} ms; floor features "
          f"{sp['floor_features_ms_per_window']:.2f} ms")
    if args.write_manifest:
        mpath = args.model / MANIFEST
        man = json.loads(mpath.read_text())
        ship = result["systems"]["shipped (onnx)"]
        man["quality"] = {"bench": "python bench/bench_tagger.py --write-manifest",
                          "macro_roc_auc": {s: round(ship[s]["macro_roc_auc"], 4) for s in SUBSETS},
                          "macro_pr_auc": {s: round(ship[s]["macro_pr_auc"], 4) for s in SUBSETS},
                          "per_tag_roc_auc_unseen_font": {t: round(v["roc_auc"], 4)
                                                          for t, v in ship["unseen_font"]["per_tag"].items()},
                          "ms_per_window_one_thread": round(sp["onnxruntime_ms_per_window"], 3),
                          "clips": result["setup"]["clips"]}
        mpath.write_text(json.dumps(man, indent=1))


if __name__ == "__main__":
    main()

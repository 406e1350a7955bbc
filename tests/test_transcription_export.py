"""Render -> train (tiny config, a few steps) -> ONNX export round trip -> the runtime loads and runs it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bridge.events import Note  # noqa: E402
from bridge.runtime import ModelBundle, sha256  # noqa: E402
from plugins.midime.melody import tokens_from_notes  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs the fluidsynth CLI")


def fake_folk(root):
    """A few real 2-bar windows (scales and arpeggios) in the folk npz format."""
    rng = np.random.default_rng(0)
    for split in ("train", "valid", "test"):
        windows = []
        for k in range(6):
            base = 60 + int(rng.integers(-5, 6))
            steps = [0, 2, 4, 5, 7, 9, 11, 12] if k % 2 else [0, 4, 7, 12, 7, 4, 0, 4]
            notes = [Note(base + s, 90, i * 1.0, 0.9) for i, s in enumerate(steps)]
            windows.append(tokens_from_notes(notes))
        np.savez(root / f"{split}.npz", windows=np.stack(windows), tune_ids=np.arange(6))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from export.transcription.data import prepare
    from export.transcription.export import export
    from export.transcription.train import train

    root = tmp_path_factory.mktemp("transcription")
    fake_folk(root)
    data = root / "data"
    index = prepare(root, data, splits=("train", "valid"), chunks={"train": 1, "valid": 1}, clips=2, fonts=("fluidr3",))
    ckpt = train("transcription-tiny", root / "run", data=data, threads=1)
    out = export(ckpt, root / "model", data=data)
    return root, data, ckpt, out, index


def test_prepare_is_deterministic_and_resumable(tiny_model, tmp_path):
    from export.transcription import data as transcription_data
    from export.transcription.data import prepare

    root, data, *_ = tiny_model
    first = np.load(data / "train" / "flute_000.npz")
    assert first["spec"].shape[1] == 165 and first["onset"].sum() == len(first["notes"])
    assert set(np.unique(first["pitch"])) - {-1} <= set(first["notes"][:, 2].astype(int))
    again = prepare(root, tmp_path, splits=("train",), chunks={"train": 1}, clips=2, fonts=("fluidr3",))
    np.testing.assert_array_equal(np.load(tmp_path / "train" / "flute_000.npz")["notes"], first["notes"])
    calls = []
    original = transcription_data.render
    transcription_data.render = lambda *a: calls.append(a) or original(*a)
    try:
        prepare(root, tmp_path, splits=("train",), chunks={"train": 1}, clips=2, fonts=("fluidr3",))
    finally:
        transcription_data.render = original
    assert calls == [] and again["clips_per_chunk"] == 2


def test_export_round_trip_matches_torch(tiny_model):
    root, data, ckpt, out, _ = tiny_model
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["diff"]["max_abs"] < 1e-4
    assert set(manifest["graphs"]) == {"transcribe", "synthesize", "symbol_encoder", "audio_decoder"}
    assert manifest["validation"]["latent_graphs"]["max_abs_diff_vs_synthesize"] < 1e-4
    for spec in manifest["graphs"].values():
        assert spec["sha256"] == sha256(out / spec["file"])
    assert manifest["training"]["config"]["name"] == "transcription-tiny"
    bundle = ModelBundle.load(out)
    frames = np.random.default_rng(1).normal(-5, 2, (1, 30, 165)).astype(np.float32)
    got = bundle.graph("transcribe").run(frames=frames)
    assert got["onset"].shape == (1, 30 - 6) and got["pitch_class"].shape == (1, 24, 13)
    from export.transcription.train import load_model

    model, _ = load_model(ckpt)
    with torch.no_grad():
        ref = model.transcribe(torch.from_numpy(frames))
    np.testing.assert_allclose(got["onset"], ref["onset"].numpy(), atol=1e-5)


def test_runtime_uses_the_exported_model(tiny_model):
    from plugins.transcription.synth import synthesize_notes
    from plugins.transcription.transcriber import Transcriber

    *_, out, _ = tiny_model
    model = Transcriber.load(out)
    audio = synthesize_notes(model, [(0.1, 0.5, 60, 90), (0.5, 0.9, 64, 60)], "violin")
    assert len(audio) == int(1.2 * 16000) and np.isfinite(audio).all()
    assert isinstance(model.transcribe(audio), list)
    assert model.transcribe(np.zeros(16000, np.float32)) == []


def test_varied_expressive_chunk_keeps_written_labels(tiny_model, tmp_path):
    """A varied chunk (odd chunk of train): melodies.py melodies in the register, bends and effects on the
    audio, labels of the written notes; seeds stay below the benches' seeds."""
    from export.transcription import data as d
    from export.transcription.melodies import BENCH_SEEDS
    from plugins.transcription.labels import instrument

    root, *_ = tiny_model
    violin = instrument("violin")
    assert d.chunk_kind("train", 1) == "varied" and d.chunk_kind("test", 1) == "folk"
    path = d.render_chunk(root, "train", violin, 1, tmp_path, clips=2, chunks=2)
    got = np.load(path)
    notes = got["notes"]
    assert len(notes) > 12 and got["onset"].sum() == len(notes)
    assert violin.low <= notes[:, 2].min() and notes[:, 2].max() <= violin.high
    assert set(np.unique(got["pitch"])) - {-1} <= set(notes[:, 2].astype(int))
    assert np.isfinite(got["spec"].astype(np.float32)).all()
    bends = d.expressive_bends([(0.0, 1.0, 60, 80), (1.0, 1.1, 62, 80)], np.random.default_rng(3))
    assert bends[0] == (0.0, 0) and all(-8192 <= b <= 8191 for _, b in bends)
    assert max(abs(b) for _, b in bends) <= 80 * 8192 / 200 + 1   # never more than 80 cents
    clip, length = d.varied_clip(BENCH_SEEDS + 5, violin, 1.0)   # wraps below the bench seeds
    assert clip == d.varied_clip(5, violin, 1.0)[0] and length > 0


def test_drill_chunks_repeat_and_hold_high_without_changing_other_melodies():
    """Train chunks from DRILL_FROM on are drills: more repeated and held notes, high in the register;
    melody() without drill draws exactly as before (the benches' melodies do not move)."""
    from export.transcription import data as d
    from export.transcription.melodies import melody
    from plugins.transcription.labels import instrument

    assert d.chunk_kind("train", d.DRILL_FROM) == "drill" and d.chunk_kind("train", d.DRILL_FROM - 1) == "varied"
    assert d.chunk_kind("valid", d.DRILL_FROM) != "drill" and d.chunk_number("alto_sax_027_opl3") == 27
    flute = instrument("flute")
    plain = [melody(s, 8.0, flute.low, flute.high) for s in range(40)]
    drill = [melody(s, 8.0, flute.low, flute.high, drill=True) for s in range(40)]
    for a, b in zip(plain[:5], drill[:5]):
        assert a["bpm"] == b["bpm"]   # the same first draws: only what drill changes differs

    def repeats(ms):
        return np.mean([sum(x[2] == y[2] for x, y in zip(m["notes"], m["notes"][1:])) / len(m["notes"]) for m in ms])

    def height(ms):
        return np.mean([np.mean([n[2] for n in m["notes"]]) for m in ms])

    assert repeats(drill) > 1.3 * repeats(plain) and height(drill) > height(plain) + 4
    assert all(flute.low <= n[2] <= flute.high for m in drill for n in m["notes"])
    sax = instrument("alto_sax")
    reach = [p for s in range(20) for _, _, p, _ in d.varied_clip(s, sax, 0.0, drill=True)[0]]
    assert max(reach) > sax.high and max(reach) <= d.DRILL_REGISTER["alto_sax"][1] and min(reach) >= sax.low


def test_training_goes_on_from_an_exported_folder(tiny_model, tmp_path):
    """--init: the torch model is rebuilt from the ONNX folder (checked against onnxruntime), the step count
    goes on from the folder's, the schedule warms up again; --resume keeps that schedule."""
    from bridge.errors import BridgeError
    from export.checkpoints import load
    from export.transcription.configs import CONFIGS
    from export.transcription.train import INIT_WARMUP, build_model, learning_rate, train
    from export.transcription.weights import load_from_folder

    root, data, ckpt, out, _ = tiny_model
    model = build_model(CONFIGS["transcription-tiny"])
    report = load_from_folder(model, out)
    assert report["step"] == 12 and report["max_abs"] < 1e-4
    assert sorted(report["fresh"]) == sorted(k for k in model.state_dict() if ".logvar." in k)
    with pytest.raises(BridgeError, match="give --steps above it"):
        train("transcription-tiny", tmp_path / "run", data=data, threads=1, init=out)
    got = train("transcription-tiny", tmp_path / "run", data=data, threads=1, init=out, steps=18)
    state = load(got, weights_only=True)
    assert state["step"] == 18 and state["init_step"] == 12 and str(out) in state["init"]
    again = train("transcription-tiny", tmp_path / "run", data=data, threads=1, resume=True, steps=24)
    assert load(again, weights_only=True)["init_step"] == 12
    cfg = CONFIGS["transcription"]
    assert learning_rate(cfg, 24000, 42000, first=24000) < learning_rate(cfg, 24000 + INIT_WARMUP, 42000, 24000)
    assert learning_rate(cfg, 24000 + INIT_WARMUP, 42000, 24000) <= cfg.lr / 4 + 1e-12
    assert abs(learning_rate(cfg, 41999, 42000, 24000) - cfg.lr_min) < 1e-5
    gentle = CONFIGS["transcription-duet-flute"]   # a config may train on at a gentler peak
    assert gentle.init_lr_scale == 0.1
    assert abs(learning_rate(gentle, 84000 + INIT_WARMUP, 96000, 84000) - gentle.lr * 0.1) < 1e-9
    with pytest.raises(BridgeError, match="not a model folder"):
        load_from_folder(model, tmp_path)


def test_shipped_folders_rebuild_in_torch():
    from export.transcription.configs import CONFIGS
    from export.transcription.train import build_model
    from export.transcription.weights import load_from_folder

    for folder in ("transcription", "transcription-duet"):
        manifest = json.loads((Path("onnx_models") / folder / "manifest.json").read_text())
        config = CONFIGS[manifest["training"]["config"]["name"]]   # the registered config that made it
        report = load_from_folder(build_model(config), f"onnx_models/{folder}")
        assert report["max_abs"] < 1e-4 and report["step"] == manifest["training"]["step"]


def test_past_context_and_fast_bands_start_as_the_folder_and_stream_like_offline(tiny_model, tmp_path):
    """Configs ``past`` and ``fast_bands``: causal residual blocks that start as no-ops and input columns that
    start at weight 0, so --init from a folder without them is checked against that folder's graph; exported,
    the runtime reads the wider context and the fast bands from the manifest and the live stream gives the
    offline frames exactly."""
    from export.transcription.configs import CONFIGS
    from export.transcription.export import export
    from export.transcription.train import build_model, train
    from export.transcription.weights import load_from_folder
    from plugins.transcription import features
    from plugins.transcription.stream import StreamTranscriber
    from plugins.transcription.transcriber import Transcriber

    root, data, ckpt, out, _ = tiny_model
    cfg = CONFIGS["transcription-tiny-past"]
    model = build_model(cfg)
    assert (model.before, model.after) == (features.CONTEXT_BEFORE + 3, features.CONTEXT_AFTER)
    # the tiny folder has the same sizes but no past: the blocks start fresh, as no-ops (the check passes)
    tiny = dict(json.loads((out / "manifest.json").read_text()))
    folder = tmp_path / "tiny"
    shutil.copytree(out, folder)
    assert tiny["training"]["config"]["past"] == []
    (folder / "manifest.json").write_text(json.dumps(tiny))
    report = load_from_folder(model, folder)
    assert report["max_abs"] < 1e-4
    assert any(k.startswith("audio_encoder.blocks.") for k in report["fresh"])
    assert "audio_encoder.context.weight" in report["fresh_columns"]
    got = train("transcription-tiny-past", tmp_path / "run", data=data, threads=1, init=folder, steps=16)
    model_dir = export(got, tmp_path / "past", data=data)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["context"] == {"before": model.before, "after": 0}
    assert manifest["features"]["fast_bands"] == features.FAST_BANDS
    ours = Transcriber.load(model_dir)
    assert ours.before == model.before and ours.fast == features.FAST_BANDS
    t = np.arange(16000 * 2) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 0.5 < 0.3)).astype(np.float32)
    assert ours.frames_of(x).shape[1] == features.N_BINS + features.FAST_BANDS
    offline = ours.frame_labels(ours.frames_of(x)).onset
    seen = []
    run = ours.run_frames
    ours.run_frames = lambda frames: seen.append(run(frames)["onset"][0]) or run(frames)
    stream = StreamTranscriber(ours, level_match=False)   # the same input as the offline frames
    for i in range(0, len(x), 512):
        stream.push(x[i:i + 512])
    live = np.concatenate(seen)
    assert len(live) > 100 and np.abs(live - offline[:len(live)]).max() < 1e-4


def test_drill_instruments_keep_only_those_drills(tiny_model, tmp_path):
    from export.transcription.data import DRILL_FROM
    from export.transcription.train import FrameSet

    root, data, *_ = tiny_model
    folder = tmp_path / "train"
    folder.mkdir()
    first = sorted((data / "train").glob("*.npz"))
    names = {f.name for f in first}
    for f in first:
        shutil.copy(f, folder / f.name)
        shutil.copy(f, folder / f.name.replace("_000", f"_{DRILL_FROM:03d}"))
    everything = FrameSet(folder)
    sax = FrameSet(folder, drills=("alto_sax",))
    drills = [f.name for f in sax.files if f.name not in names]
    assert drills and all(n.startswith("alto_sax_") for n in drills)
    assert len(everything.files) == 2 * len(first) and len(sax) < len(everything)


def test_an_older_checkpoint_finds_its_family(tiny_model, tmp_path):
    """A checkpoint written before a config field was added (every new field has a default) still exports."""
    from export.checkpoints import load, save
    from export.families import family_of_checkpoint

    *_, ckpt, out, _ = tiny_model
    state = load(ckpt, weights_only=True)
    cfg = json.loads(state["config"])
    for field in ("past", "past_hidden", "drill_instruments"):
        cfg.pop(field)
    old = save(tmp_path / "model.pt", {**state, "config": json.dumps(cfg)}, keep=None)
    assert family_of_checkpoint(old).name == family_of_checkpoint(ckpt).name == "transcription"


def test_a_full_config_is_refused_on_fewer_training_soundfonts(tiny_model, tmp_path):
    from bridge.errors import BridgeError
    from export.transcription.train import train

    root, data, ckpt, *_ = tiny_model
    # the tiny data holds FluidR3 chunks only: a shipped recipe on it would be another model than its manifest's
    with pytest.raises(BridgeError, match="no chunks of soundfont.*csound.*CMT_BRIDGE_TRAINING_FONTS=1"):
        train("transcription-eq-violin", tmp_path / "run", data=data, threads=1, steps=1)
    assert not (tmp_path / "run").exists()   # refused before anything is written
    from export.checkpoints import read_checkpoint
    assert read_checkpoint(ckpt)["fonts"] == ["fluidr3"]   # a tiny config trains on what there is, and says so


def test_eq_augmentation_is_a_smooth_bounded_colour(tiny_model):
    """``eq_db`` colours each segment with one smooth curve over the bins (the same in every frame), within
    the bound, on top of the level, and never below the spectrum's floor."""
    import math

    from export.transcription.augment import random_eq
    from export.transcription.train import FrameSet
    from plugins.transcription import features

    root, data, *_ = tiny_model
    curves = random_eq(np.random.default_rng(0), 500, 6.0)
    assert curves.shape == (500, features.N_BINS) and np.abs(curves).max() <= 6.0 + 1e-5
    assert np.abs(curves).mean() > 1.0 and np.abs(np.diff(curves, axis=1)).max() < 0.5   # felt, and smooth
    train = FrameSet(data / "train")
    starts = np.array([40, 90, 140])
    plain = train.segments(starts, 16)[0].numpy()
    coloured = train.segments(starts, 16, np.random.default_rng(1), eq_db=6.0)[0].numpy()
    floor = math.log(features.FLOOR)
    assert (coloured >= floor - 1e-6).all() and not np.allclose(plain, coloured)
    loud = (plain > floor + 2.0) & (coloured > floor + 1e-3)
    delta = coloured - plain
    for seg in range(len(starts)):   # one curve per segment: every loud frame of a bin moves by the same
        for b in np.flatnonzero(loud[seg].any(axis=0)):
            d = delta[seg, loud[seg, :, b], b]
            assert d.max() - d.min() < 1e-4
    assert np.abs(delta[loud]).max() <= 6.0 * math.log(10) / 20 + 1e-4


def test_average_writes_the_mean_of_two_runs_and_exports_it(tiny_model, tmp_path):
    """cmt-bridge average: a model soup of two checkpoints of one architecture, exported under its config;
    bad input (one checkpoint, another architecture, an existing output) is one line and writes nothing."""
    import subprocess
    import sys

    from export.checkpoints import load, save
    from export.transcription.export import export
    from export.transcription.train import train

    root, data, ckpt, out, _ = tiny_model
    other = train("transcription-tiny", tmp_path / "run", data=data, threads=1, init=out, steps=18)
    soup = tmp_path / "soup" / "model.pt"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bridge.cli", *map(str, args)], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent.parent)

    r = cli("average", ckpt, other, "-o", soup, "--config", "transcription-tiny")
    assert r.returncode == 0, r.stderr
    a, b, m = load(ckpt, weights_only=True), load(other, weights_only=True), load(soup, weights_only=True)
    for k, v in m["model"].items():
        if v.is_floating_point():
            assert torch.allclose(v, (a["model"][k] + b["model"][k]) / 2, atol=1e-6), k
    assert [x["step"] for x in m["averaged_from"]] == [12, 18] and m["step"] == 18
    assert "opt" not in m and "optimizer" not in m and "average" in m["command"]
    assert json.loads(m["history"]) == []   # the sources' validation figures are not the mean's
    manifest = json.loads((export(soup, tmp_path / "soup-model", data=data) / "manifest.json").read_text())
    assert [x["step"] for x in manifest["training"]["averaged_from"]] == [12, 18]

    r = cli("average", ckpt, other, "-o", soup)
    assert r.returncode == 2 and "--force" in r.stderr
    r = cli("average", ckpt, other, "-o", soup, "--weights", "3,1", "--force")
    assert r.returncode == 0, r.stderr
    m = load(soup, weights_only=True)
    k = next(k for k, v in m["model"].items() if v.is_floating_point() and not torch.equal(a["model"][k], b["model"][k]))
    assert torch.allclose(m["model"][k], 0.75 * a["model"][k] + 0.25 * b["model"][k], atol=1e-6)
    assert [x["weight"] for x in m["averaged_from"]] == [0.75, 0.25]
    for w in ("1", "1,0", "a,b", "1,-1"):
        r = cli("average", ckpt, other, "-o", tmp_path / "w.pt", "--weights", w)
        assert r.returncode == 2 and "--weights" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "w.pt").exists()

    # a model folder (the exported start, ``out``) averages with the run trained on from it
    r = cli("average", out, other, "-o", tmp_path / "f.pt", "--config", "transcription-tiny")
    assert r.returncode == 0, r.stderr
    f = load(tmp_path / "f.pt", weights_only=True)
    graphs = [k for k in f["model"] if ".logvar." not in k and f["model"][k].is_floating_point()]
    assert graphs and all(torch.allclose(f["model"][k], (a["model"][k] + b["model"][k]) / 2, atol=1e-5) for k in graphs)
    assert [x["checkpoint"] for x in f["averaged_from"]] == [str(out), str(other)]
    assert [x["step"] for x in f["averaged_from"]] == [12, 18]
    r = cli("average", other, out, "-o", tmp_path / "h" / "model.pt")   # the folder last: it exports too
    assert r.returncode == 0, r.stderr
    assert (export(tmp_path / "h" / "model.pt", tmp_path / "h-model", data=data) / "manifest.json").is_file()
    r = cli("average", tmp_path, other, "-o", tmp_path / "g.pt")   # a folder that is no model folder
    assert r.returncode == 2 and "not a model folder" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "g.pt").exists()

    bad = dict(b)
    bad["model"] = {k: v for k, v in b["model"].items() if k != next(iter(b["model"]))}
    save(tmp_path / "bad.pt", bad, keep=None)
    for args, words in (((ckpt,), "two or more"), ((ckpt, tmp_path / "bad.pt"), "architecture"),
                        ((ckpt, tmp_path / "nothing.pt"), "no such checkpoint")):
        target = tmp_path / "x" / "model.pt"
        r = cli("average", *args, "-o", target)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not target.exists()

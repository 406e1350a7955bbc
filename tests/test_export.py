"""The offline trainer end to end on real (small) data: prepare -> train -> export -> load in the host."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bridge.errors import BridgeError  # noqa: E402
from bridge.runtime import ModelBundle  # noqa: E402
from export.musicvae import configs, train  # noqa: E402
from export.musicvae import export as onnx_export  # noqa: E402
from export.musicvae import folk as folk_data  # noqa: E402
from plugins.midime.melody import NUM_CLASSES, START, STEPS  # noqa: E402

import peers  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folk(tmp_path_factory):
    """The first ABC file of music21's folk corpus, prepared for real (a few seconds)."""
    root = tmp_path_factory.mktemp("data")
    os.environ["CMT_BRIDGE_DATA"] = str(root)
    idx = folk_data.prepare(root / "folk", jobs=1, limit=1)
    yield root / "folk", idx
    os.environ.pop("CMT_BRIDGE_DATA", None)


@pytest.fixture(scope="module")
def tiny_run(folk, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    train.train(configs.get("musicvae-tiny"), run, steps=20)
    return run


def test_prepare_splits_by_tune_and_resumes(folk, monkeypatch):
    out, idx = folk
    assert idx["train_windows"] > 500 and idx["valid_windows"] > 0 and idx["test_windows"] > 0
    tunes = {s: set(folk_data.load_split(s, out)[1].tolist()) for s in ("train", "valid", "test")}
    assert not (tunes["train"] & tunes["valid"]) and not (tunes["train"] & tunes["test"])
    w, _ = folk_data.load_split("train", out)
    assert w.shape[1] == STEPS and w.dtype == np.int64 and (w >= 0).all()
    # a rerun parses nothing again (resumable) and gives the same, deterministic split
    monkeypatch.setattr(folk_data, "_work", lambda a: (_ for _ in ()).throw(RuntimeError("re-parsed")))
    again = folk_data.prepare(out, jobs=1, limit=1)
    assert again["train_crc"] == idx["train_crc"] and again["test_crc"] == idx["test_crc"]


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(BridgeError, match="data prepare folk"):
        folk_data.load_split("train", tmp_path)


def test_train_writes_checkpoints_loss_plot_and_resumes(tiny_run):
    assert (tiny_run / "loss.png").stat().st_size > 1000
    hist = json.loads((tiny_run / "history.json").read_text())
    assert any(h["kind"] == "valid" and 0 <= h["acc"] <= 1 for h in hist)
    ck = train.latest_checkpoint(tiny_run)
    assert ck.name == "ckpt-0000020.pt"
    train.train(configs.get("musicvae-tiny"), tiny_run, resume=True, steps=30)
    assert train.latest_checkpoint(tiny_run).name == "ckpt-0000030.pt"
    state = torch.load(train.latest_checkpoint(tiny_run), weights_only=False)
    assert state["step"] == 30 and len([h for h in state["history"] if h["kind"] == "train"]) >= 1


def test_export_roundtrip_matches_torch(tiny_run, tmp_path):
    out = onnx_export.export(str(train.latest_checkpoint(tiny_run)), out=tmp_path / "m")
    man = json.loads((out / "manifest.json").read_text())
    assert man["validation"]["max_abs_diff"] <= 1e-4
    assert all(len(g["sha256"]) == 64 for g in man["graphs"].values())
    # the one-call decoder (tiny: one GRU layer) is built from the step graphs and checked token for token
    assert man["graphs"]["decoder_sample"]["built_from"]["decoder_step"] == man["graphs"]["decoder_step"]["sha256"]
    assert man["validation"]["decoder_sample"]["identical"] and man["validation"]["decoder_sample"]["rows"] > 0
    assert man["training"]["command"].startswith("cmt-bridge train musicvae-tiny")
    assert 0 <= man["quality"]["free_running_acc"] <= 1 and "all_hold_baseline_acc" in man["quality"]
    model, _, _ = onnx_export.load_checkpoint(str(train.latest_checkpoint(tiny_run)))
    bundle = ModelBundle.load(out)
    # fixed inputs, batch sizes the export never saw: 1 and 5
    for b in (1, 5):
        x = np.random.default_rng(b).integers(0, START, (b, STEPS))
        enc = bundle.graph("encoder").run(melody=x)
        with torch.no_grad():
            mu, sigma = model.encode(torch.from_numpy(x))
            want = model.decode_greedy(mu).numpy()
        np.testing.assert_allclose(enc["mu"], mu.numpy(), atol=1e-4)
        np.testing.assert_allclose(enc["sigma"], sigma.numpy(), atol=1e-4)
        state = bundle.graph("decoder_init").run(z=enc["mu"])["state"]
        prev = np.full(b, START, np.int64)
        got = []
        for _ in range(STEPS):
            r = bundle.graph("decoder_step").run(z=enc["mu"], prev_token=prev, state=state)
            state, prev = r["state"], r["logits"].argmax(-1)
            got.append(prev)
        np.testing.assert_array_equal(np.stack(got, 1), want)
        sample = bundle.graph("decoder_sample").run(z=enc["mu"], noise=np.zeros((b, STEPS, NUM_CLASSES), np.float32),
                                                    temperature=np.zeros(1, np.float32))["tokens"]
        np.testing.assert_array_equal(sample, want)


def test_export_refuses_a_graph_that_differs(tiny_run, tmp_path, monkeypatch):
    real = onnx_export.validate
    monkeypatch.setattr(onnx_export, "validate", lambda *a: {**real(*a), "max_abs_diff": 0.5})
    with pytest.raises(BridgeError, match="differs from torch"):
        onnx_export.export(str(train.latest_checkpoint(tiny_run)), out=tmp_path / "bad")


def test_torchrun_two_ranks_match_one_process(folk, tmp_path):
    """DDP on CPU (gloo): 2 ranks each take half of every global batch; the result equals one process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one, two = tmp_path / "one", tmp_path / "two"
    args = ["-m", "export", "train", "musicvae-tiny", "--steps", "8", "--threads", "1"]
    subprocess.run([sys.executable, *args, "--run-dir", str(one)], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=300)
    first = None
    for attempt in range(2):
        r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                            str(peers.free_tcp_port()), *args, "--run-dir", str(two / str(attempt))], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=300)
        # one relaunch, only when the launcher's root cause is a rank killed by a signal (a negative exit code:
        # gloo aborting, seen once in CI); an error of ours exits with a status and fails at once, and a
        # second kill fails the test with both logs
        killed = re.search(r"Root Cause.*?exitcode\s*:\s*-\d", r.stderr, re.S)
        if r.returncode == 0 or not killed or first is not None:
            break
        first = r.stderr
    assert r.returncode == 0, (first or "")[:3000] + "\n...\n" + r.stderr[:3000] + "\n...\n" + r.stderr[-2000:]
    two = two / str(attempt)
    a = torch.load(train.latest_checkpoint(one), weights_only=False)["model"]
    b = torch.load(train.latest_checkpoint(two), weights_only=False)["model"]
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-4, worst
    changed = max(float((a[k] - torch.zeros_like(a[k])).abs().max()) for k in a)
    assert changed > 0


def test_shipped_model_reproduces_torch_golden_outputs():
    """The committed ONNX files give what torch gave at export time on held-out tunes."""
    folder = ROOT / "onnx_models" / "musicvae-mel2bar"
    if not (folder / "manifest.json").exists():
        pytest.skip("no shipped musicvae-mel2bar yet")
    bundle = ModelBundle.load(folder)
    g = bundle.manifest["golden"]
    x = np.array(g["melody"], np.int64)
    enc = bundle.graph("encoder").run(melody=x)
    np.testing.assert_allclose(enc["mu"], np.array(g["mu"]), atol=1e-4)
    state = bundle.graph("decoder_init").run(z=enc["mu"])["state"]
    prev = np.full(len(x), START, np.int64)
    got = []
    for _ in range(STEPS):
        r = bundle.graph("decoder_step").run(z=enc["mu"], prev_token=prev, state=state)
        state, prev = r["state"], r["logits"].argmax(-1)
        got.append(prev)
    np.testing.assert_array_equal(np.stack(got, 1), np.array(g["greedy_tokens"]))
    q = bundle.manifest["quality"]
    assert q["free_running_acc"] > q["all_hold_baseline_acc"]

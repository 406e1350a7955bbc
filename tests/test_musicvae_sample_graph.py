"""decoder_sample: the whole 2-bar MusicVAE decode in one onnxruntime call, against the step loop it is made from."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.errors import BridgeError, InputError
from bridge.runtime import MANIFEST, default_models_dir, sha256
from plugins.midime import melody
from plugins.midime.midime import MidiMe
from plugins.midime.vae import MODEL_NAME, SAMPLE_GRAPH, MusicVAE

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = default_models_dir() / MODEL_NAME
# fingerprint of the shipped model before decoder_sample was added: personal .midime files are tied to it
FINGERPRINT = "2e57914cf7909938cdd546d95743ab07efe6ce3e31b2a12e34885038746e169c"
STEP_FILES = ("encoder.onnx", "decoder_init.onnx", "decoder_step.onnx")


def _need_model():
    if not (MODEL_DIR / MANIFEST).is_file():
        pytest.skip(f"{MODEL_DIR} is absent (cmt-bridge export-onnx {MODEL_NAME})")


def _steps_only_copy(dest: Path) -> Path:
    """The model folder as it was before decoder_sample: three graphs, manifest without the entry."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in STEP_FILES:
        shutil.copy(MODEL_DIR / f, dest / f)
    man = json.loads((MODEL_DIR / MANIFEST).read_text())
    man["graphs"].pop(SAMPLE_GRAPH, None)
    man.get("validation", {}).pop(SAMPLE_GRAPH, None)
    (dest / MANIFEST).write_text(json.dumps(man, indent=1))
    return dest


@pytest.fixture(scope="module")
def vae():
    _need_model()
    return MusicVAE.load(MODEL_DIR)


@pytest.fixture(scope="module")
def vae_steps(tmp_path_factory):
    _need_model()
    return MusicVAE.load(_steps_only_copy(tmp_path_factory.mktemp("steps") / MODEL_NAME))


def _latents(vae, n=24, seed=3):
    gold = np.array(vae.bundle.manifest["golden"]["melody"], np.int64)
    mu, _ = vae.encode(gold)
    prior = np.random.default_rng(seed).standard_normal((n, vae.z_dim)).astype(np.float32)
    return np.concatenate([mu, prior])


def test_shipped_folder_has_a_validated_sample_graph(vae):
    man = vae.bundle.manifest
    spec = man["graphs"][SAMPLE_GRAPH]
    assert vae.has_sample_graph
    assert spec["sha256"] == sha256(MODEL_DIR / spec["file"])
    assert spec["built_from"] == {g: man["graphs"][g]["sha256"] for g in ("decoder_init", "decoder_step")}
    assert set(spec["inputs"]) == {"z", "noise", "temperature"} and set(spec["outputs"]) == {"tokens"}
    report = man["validation"][SAMPLE_GRAPH]
    assert report["identical"] and report["mismatched_rows"] == 0 and report["rows"] >= 1000
    # 32 steps, one set of weights: about the size of decoder_step, not 32 times it
    assert (MODEL_DIR / spec["file"]).stat().st_size < 1.2 * (MODEL_DIR / "decoder_step.onnx").stat().st_size


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0, 2.0])
def test_sample_graph_tokens_equal_the_step_loop(vae, temperature):
    z = _latents(vae)
    noise = None if temperature == 0 else vae.gumbel(len(z), np.random.default_rng(7))
    one_call = vae.decode_noise(z, temperature, noise, graph=True)
    steps = vae.decode_noise(z, temperature, noise, graph=False)
    assert one_call.shape == (len(z), 32) and one_call.dtype == np.int64
    np.testing.assert_array_equal(one_call, steps)


def test_greedy_reproduces_the_torch_golden_tokens(vae):
    g = vae.bundle.manifest["golden"]
    mu, _ = vae.encode(np.array(g["melody"], np.int64))
    np.testing.assert_array_equal(vae.decode(mu), np.array(g["greedy_tokens"]))


def test_decode_is_the_same_with_and_without_the_sample_graph(vae, vae_steps):
    assert vae.has_sample_graph and not vae_steps.has_sample_graph
    z = _latents(vae, n=8)
    np.testing.assert_array_equal(vae.decode(z), vae_steps.decode(z))
    for seed in (0, 1):
        for t in (0.3, 1.0):
            np.testing.assert_array_equal(vae.decode(z, t, np.random.default_rng(seed)),
                                          vae_steps.decode(z, t, np.random.default_rng(seed)))
    np.testing.assert_array_equal(vae.sample(6, 0.5, np.random.default_rng(4)),
                                  vae_steps.sample(6, 0.5, np.random.default_rng(4)))


def test_decode_honours_temperature_and_rng(vae):
    z = _latents(vae, n=4)
    a = vae.decode(z, 1.0, np.random.default_rng(5))
    assert (a == vae.decode(z, 1.0, np.random.default_rng(5))).all()
    assert not (a == vae.decode(z, 1.0, np.random.default_rng(6))).all()
    assert (vae.decode(z, 1e-4, np.random.default_rng(0)) == vae.decode(z)).all()  # T -> 0 is argmax
    # the rng is used for exactly the Gumbel draws, step after step (the stream the step loop always drew)
    rng, ref = np.random.default_rng(9), np.random.default_rng(9)
    out = vae.decode(z, 0.8, rng)
    per_step = np.stack([ref.gumbel(size=(len(z), melody.NUM_CLASSES)) for _ in range(32)], axis=1)
    np.testing.assert_array_equal(out, vae.decode_noise(z, 0.8, per_step.astype(np.float32)))
    assert rng.random() == ref.random()
    with pytest.raises(InputError, match="temperature"):
        vae.decode(z, -0.1)
    with pytest.raises(InputError, match="noise must be"):
        vae.decode_noise(z, 1.0, np.zeros((len(z), 31, melody.NUM_CLASSES), np.float32))
    assert vae.decode(np.zeros((0, vae.z_dim), np.float32)).shape == (0, 32)


@pytest.mark.parametrize("temperature", [0.5, 1.5])
def test_first_token_follows_softmax_of_logits_over_temperature(vae, temperature):
    """Gumbel-max through the graph samples softmax(logits / T): step 0 is checked against decoder_step's logits."""
    z = _latents(vae, n=1)[1:2]
    n = 1500
    first = vae.decode(np.repeat(z, n, 0), temperature, np.random.default_rng(11))[:, 0]
    state = vae.bundle.graph("decoder_init").run(z=z)["state"]
    logits = vae.bundle.graph("decoder_step").run(z=z, prev_token=np.array([melody.START]), state=state)["logits"][0]
    p = np.exp((logits - logits.max()) / temperature)
    p /= p.sum()
    freq = np.bincount(first, minlength=melody.NUM_CLASSES) / n
    assert 0.5 * np.abs(freq - p).sum() < 0.06  # total variation; sampling error at n=1500 is ~0.02


def test_fingerprint_ignores_the_sample_graph(vae, vae_steps):
    assert vae.fingerprint == vae_steps.fingerprint == FINGERPRINT
    mu, _ = vae_steps.encode(np.array(vae.bundle.manifest["golden"]["melody"], np.int64))
    personal = MidiMe.learn(np.repeat(mu, 2, 0), vae_steps.name, vae_steps.fingerprint, epochs=5)
    personal.check_base(vae.name, vae.fingerprint)  # a .midime learned before decoder_sample still fits


def test_a_sample_graph_built_from_other_step_graphs_is_not_used(tmp_path, caplog):
    _need_model()
    folder = _steps_only_copy(tmp_path / MODEL_NAME)
    shutil.copy(MODEL_DIR / "decoder_sample.onnx", folder / "decoder_sample.onnx")
    man = json.loads((folder / MANIFEST).read_text())
    spec = json.loads((MODEL_DIR / MANIFEST).read_text())["graphs"][SAMPLE_GRAPH]
    man["graphs"][SAMPLE_GRAPH] = {**spec, "built_from": {**spec["built_from"], "decoder_step": "0" * 64}}
    (folder / MANIFEST).write_text(json.dumps(man))
    with caplog.at_level(logging.WARNING):
        stale = MusicVAE.load(folder)
    assert not stale.has_sample_graph and "decoding step by step" in caplog.text
    z = _latents(stale, n=2)
    assert stale.decode(z).shape == (len(z), 32)


# -- building it (needs the onnx package: the train extra) ---------------------------------------------------
def test_builder_reproduces_the_shipped_graph_and_leaves_the_rest_alone(tmp_path):
    pytest.importorskip("onnx")
    _need_model()
    from export.musicvae.sample_graph import add_to_folder

    folder = _steps_only_copy(tmp_path / MODEL_NAME)
    before = {f: sha256(folder / f) for f in STEP_FILES}
    gold = np.array(json.loads((folder / MANIFEST).read_text())["golden"]["melody"], np.int64)
    report = add_to_folder(folder, windows=gold, windows_from="golden", timing_runs=3)
    assert report["identical"] and report["rows"] == 2 * 4 * len(gold)
    man = json.loads((folder / MANIFEST).read_text())
    assert man["validation"][SAMPLE_GRAPH]["identical"]
    assert {f: sha256(folder / f) for f in STEP_FILES} == before
    assert all(man["graphs"][g]["sha256"] == before[man["graphs"][g]["file"]] for g in ("encoder", "decoder_init",
                                                                                          "decoder_step"))
    # one code path: the same file as the one shipped
    assert man["graphs"][SAMPLE_GRAPH]["sha256"] == sha256(MODEL_DIR / "decoder_sample.onnx")
    assert MusicVAE.load(folder).has_sample_graph


def test_builder_refuses_a_graph_whose_tokens_differ(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    _need_model()
    from export.musicvae import sample_graph as musicvae_sample

    folder = _steps_only_copy(tmp_path / MODEL_NAME)
    real = musicvae_sample.validate
    monkeypatch.setattr(musicvae_sample, "validate", lambda vae, w, runs: {**real(vae, w, 1), "mismatched_rows": 1})
    gold = np.array(json.loads((folder / MANIFEST).read_text())["golden"]["melody"], np.int64)
    with pytest.raises(BridgeError, match="differs from the step-by-step decode"):
        musicvae_sample.add_to_folder(folder, windows=gold)
    assert SAMPLE_GRAPH not in json.loads((folder / MANIFEST).read_text())["graphs"]
    assert not (folder / "decoder_sample.onnx").exists()
    assert not MusicVAE.load(folder).has_sample_graph


def test_builder_cli_on_a_folder(tmp_path):
    pytest.importorskip("onnx")
    _need_model()
    folder = _steps_only_copy(tmp_path / MODEL_NAME)
    r = subprocess.run([sys.executable, "-m", "export.musicvae.sample_graph", str(folder)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, "CMT_BRIDGE_DATA": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["identical"]
    assert MusicVAE.load(folder).has_sample_graph


def test_torch_rebuilt_from_the_onnx_matches(vae):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from export.musicvae.weights import model_from_onnx

    model, report = model_from_onnx(MODEL_DIR)
    assert report["golden_max_abs_diff"] <= 1e-5 and report["golden_greedy_tokens_identical"]
    assert report["max_abs_diff"] <= 1e-4 and report["greedy_tokens_identical"]
    z = _latents(vae, n=6)
    np.testing.assert_array_equal(model.decode_greedy(torch.from_numpy(z)).numpy(), vae.decode(z))

"""plugins.midime.midime: hand-written gradients, learning, personal prior, JSON files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.errors import InputError, ModelError
from plugins.midime.midime import PARAM_NAMES, MidiMe, init_params, loss_and_grads


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    p = init_params(6, 3, 5, rng)
    x, eps = rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    _, grads, _ = loss_and_grads(p, x, eps, beta=0.7, recon_sigma=0.5)
    for name in PARAM_NAMES:
        numeric = np.zeros_like(p[name])
        for i in np.ndindex(p[name].shape):
            old = p[name][i]
            p[name][i] = old + 1e-6
            up = loss_and_grads(p, x, eps, 0.7, 0.5)[0]
            p[name][i] = old - 1e-6
            down = loss_and_grads(p, x, eps, 0.7, 0.5)[0]
            p[name][i] = old
            numeric[i] = (up - down) / 2e-6
        rel = np.abs(numeric - grads[name]).max() / max(np.abs(numeric).max(), 1e-8)
        assert rel < 1e-5, f"gradient of {name} off by {rel:.2e}"


def _cluster(rng, n=8, z=32):
    centre = rng.standard_normal(z)
    return centre + 0.3 * rng.standard_normal((n, z))


def test_learning_reduces_loss_and_reports_every_epoch():
    rng = np.random.default_rng(2)
    x = _cluster(rng)
    seen = []
    m = MidiMe.learn(x, "base", "f" * 64, epochs=300, progress=lambda e, n, loss: seen.append((e, n, loss)))
    assert [e for e, _, _ in seen] == list(range(1, 301)) and all(n == 300 for _, n, _ in seen)
    assert seen[-1][2] < 0.1 * seen[0][2]
    untrained = MidiMe(init_params(32, 4, 64, np.random.default_rng(0)), m.center, m.scale, "base", "f" * 64,
                       m.info)
    assert m.loss(x) < 0.1 * untrained.loss(x)


def test_personal_samples_land_near_the_learned_set():
    rng = np.random.default_rng(3)
    x = _cluster(rng)
    m = MidiMe.learn(x, "base", "f" * 64, epochs=400)
    personal = m.sample_latents(200, np.random.default_rng(4))
    prior = rng.standard_normal((200, 32))

    def nearest(a):
        return np.sqrt(((a[:, None, :] - x[None]) ** 2).sum(-1)).min(1).mean()

    assert personal.shape == (200, 32) and personal.dtype == np.float32
    assert nearest(personal) < 0.5 * nearest(prior)
    assert m.encode(x).shape == (8, 4)


def test_save_load_round_trip_is_json(tmp_path):
    x = _cluster(np.random.default_rng(5), n=6, z=16)
    m = MidiMe.learn(x, "musicvae-mel2bar", "a" * 64, latent_dim=5, hidden=12, epochs=50)
    path = m.save(tmp_path / "mine.midime")
    d = json.loads(path.read_text())
    assert d["format"] == "cmt-bridge.midime" and d["base_model"] == {"name": "musicvae-mel2bar", "sha256": "a" * 64}
    back = MidiMe.load(path)
    s = np.random.default_rng(0).standard_normal((3, 5))
    np.testing.assert_allclose(back.decode(s), m.decode(s), rtol=1e-6)
    assert back.info["windows"] == 6
    back.check_base("musicvae-mel2bar", "a" * 64)
    with pytest.raises(ModelError, match="learned on musicvae-mel2bar .* learn it again"):
        back.check_base("musicvae-other", "b" * 64, source="mine.midime")


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such MidiMe file"):
        MidiMe.load(tmp_path / "none.midime")
    (tmp_path / "a.midime").write_bytes(b"\x80\x04pickle")
    with pytest.raises(InputError, match="not a MidiMe file"):
        MidiMe.load(tmp_path / "a.midime")
    (tmp_path / "b.midime").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(InputError, match="not a MidiMe file"):
        MidiMe.load(tmp_path / "b.midime")
    m = MidiMe.learn(_cluster(np.random.default_rng(6), n=4, z=8), "m", "c" * 64, hidden=4, epochs=5)
    d = m.to_json()
    d["params"]["W3"] = d["params"]["W3"][:-1]
    (tmp_path / "c.midime").write_text(json.dumps(d))
    with pytest.raises(InputError, match="corrupt MidiMe file .*W3"):
        MidiMe.load(tmp_path / "c.midime")
    del d["params"]
    (tmp_path / "d.midime").write_text(json.dumps(d))
    with pytest.raises(InputError, match="corrupt MidiMe file"):
        MidiMe.load(tmp_path / "d.midime")


def test_too_few_latents():
    with pytest.raises(InputError, match="at least 2"):
        MidiMe.learn(np.zeros((1, 8)), "m", "c" * 64)

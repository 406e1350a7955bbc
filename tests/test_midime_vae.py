"""plugins.midime.vae on the real ONNX MusicVAE: shapes, sampling rules, interpolation ends, personalisation."""
from __future__ import annotations

import numpy as np
import pytest

from bridge.errors import InputError, ModelError
from bridge.events import Note
from bridge.runtime import ModelBundle, default_models_dir
from plugins.midime import melody
from plugins.midime.midime import MidiMe
from plugins.midime.style import distance, features
from plugins.midime.vae import EXPECT, MODEL_NAME, MusicVAE, slerp

MODEL_DIR = default_models_dir() / MODEL_NAME


@pytest.fixture(scope="module")
def vae():
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(f"{MODEL_DIR} is absent: the MusicVAE model is exported by `cmt-bridge export-onnx "
                    f"musicvae-mel2bar` (or point CMT_BRIDGE_MODELS at a folder holding {MODEL_NAME}/)")
    return MusicVAE(ModelBundle.load(MODEL_DIR, expect=EXPECT))


def style_set(n: int = 8) -> np.ndarray:
    """n two-bar melodies of one 'style': D major, stepwise eighths and a held note at each bar's end."""
    rng = np.random.default_rng(11)
    scale = [62, 64, 66, 67, 69, 71, 73, 74]
    out = []
    for _ in range(n):
        notes, deg = [], int(rng.integers(0, 5))
        for bar in range(2):
            for k in range(6):
                deg = int(np.clip(deg + rng.choice([-1, 1]), 0, 7))
                notes.append(Note(scale[deg], 90, bar * 4 + k * 0.5, 0.5))
            notes.append(Note(scale[0 if bar else 4], 90, bar * 4 + 3.0, 1.0))
        out.append(melody.tokens_from_notes(notes))
    return np.stack(out)


def test_encode_decode_shapes_and_argmax_is_deterministic(vae):
    x = style_set(3)
    mu, sigma = vae.encode(x)
    assert mu.shape == sigma.shape == (3, vae.z_dim) and (sigma > 0).all()
    a, b = vae.decode(mu), vae.decode(mu)
    assert a.shape == (3, 32) and a.dtype == np.int64 and (a == b).all()
    assert ((a >= 0) & (a < melody.NUM_CLASSES)).all()


def test_sampling_follows_seed_and_temperature(vae):
    a = vae.sample(6, 1.0, np.random.default_rng(5))
    b = vae.sample(6, 1.0, np.random.default_rng(5))
    c = vae.sample(6, 1.0, np.random.default_rng(6))
    assert (a == b).all() and not (a == c).all()
    z = np.random.default_rng(1).standard_normal((4, vae.z_dim)).astype(np.float32)
    greedy = vae.decode(z, 0.0)
    cold = vae.decode(z, 1e-4, np.random.default_rng(0))  # T -> 0 sampling == argmax
    assert (greedy == cold).all()
    hot = vae.decode(np.repeat(z[:1], 16, 0), 2.0, np.random.default_rng(0))
    assert len({tuple(r) for r in hot}) > 1  # one latent, many variations when hot


def test_batched_decode_equals_one_by_one(vae):
    z = np.random.default_rng(2).standard_normal((5, vae.z_dim)).astype(np.float32)
    together = vae.decode(z)
    alone = np.concatenate([vae.decode(z[i:i + 1]) for i in range(5)])
    assert (together == alone).all()


def test_interpolation_ends_are_the_reconstructions(vae):
    x = style_set(2)
    seq = vae.interpolate(x[0], x[1], 5)
    assert seq.shape == (5, 32)
    rec = vae.reconstruct(x)
    assert (seq[0] == rec[0]).all() and (seq[-1] == rec[1]).all()
    lat = vae.interpolation_latents(x[0], x[1], 5)
    mu, _ = vae.encode(x)
    np.testing.assert_allclose(lat[0], mu[0], atol=1e-5)
    np.testing.assert_allclose(lat[-1], mu[1], atol=1e-5)
    norms = np.linalg.norm(lat, axis=1)
    assert norms.min() > 0.5 * min(np.linalg.norm(mu[0]), np.linalg.norm(mu[1]))  # slerp: no dip to the origin


def test_slerp_end_points_and_bad_input():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(slerp(a, b, 0.0), a)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    np.testing.assert_allclose(slerp(a, a, 0.3), a)


def test_bad_tokens_and_latents(vae):
    with pytest.raises(InputError, match=r"\[batch, 32\]"):
        vae.encode(np.zeros((2, 31), np.int64))
    with pytest.raises(InputError, match="tokens must be in"):
        vae.encode(np.full((1, 32), 60))
    with pytest.raises(InputError, match="latents must be"):
        vae.decode(np.zeros((1, vae.z_dim + 1)))


def test_mismatched_vocabulary_is_a_model_error(vae):
    class Fake:
        name = "fake"
        manifest = {**vae.bundle.manifest, "vocab": {**vae.bundle.manifest["vocab"], "max_pitch": 84}}
        graph = vae.bundle.graph

    with pytest.raises(ModelError, match="max_pitch=84"):
        MusicVAE(Fake())


def test_personal_samples_are_closer_to_the_learned_set_than_base_samples(vae):
    learned = style_set(8)
    mu, _ = vae.encode(learned)
    model = MidiMe.learn(mu, vae.name, vae.fingerprint, seed=0)
    rng = np.random.default_rng(0)
    personal = vae.decode(model.sample_latents(100, rng), 0.5, rng)
    base = vae.sample(100, 0.5, rng)
    assert distance(personal, learned) < distance(base, learned)
    # the key is what MusicVAE's prior cannot guess: D major's pitch classes dominate the personal samples
    d_major = [2, 4, 6, 7, 9, 11, 1]
    assert features(personal)["pc"][d_major].sum() > features(base)["pc"][d_major].sum()

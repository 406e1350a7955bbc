"""Key, scale and register of MidiMe samples (plugins/midime/keys.py, sampling.py): measured on the real model.

The figures the docs quote (share of notes in the scale, median pitch, before and after) come from
``test_key_and_register_move_real_samples`` (run with ``-s`` to see them).
"""
from __future__ import annotations

import statistics

import numpy as np
import pytest

from bridge.api import ConfigError, Note
from bridge.runtime import ModelBundle, default_models_dir
from plugins.midime import keys, sampling
from plugins.midime.vae import EXPECT, MODEL_NAME, MusicVAE

MODEL_DIR = default_models_dir() / MODEL_NAME


@pytest.fixture(scope="module")
def vae():
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(f"{MODEL_DIR} is absent (cmt-bridge export-onnx {MODEL_NAME})")
    return MusicVAE(ModelBundle.load(MODEL_DIR, expect=EXPECT))


def n(pitch: int, start: float = 0.0, dur: float = 0.5) -> Note:
    return Note(pitch, 90, start, dur)


def test_scales_snaps_and_shifts():
    d_minor = keys.pitch_classes("D", "minor")
    assert d_minor == {2, 4, 5, 7, 9, 10, 0}
    assert keys.pitch_classes("Db", "major") == keys.pitch_classes("C#", "major")
    with pytest.raises(ConfigError, match="key must be one of"):
        keys.pitch_classes("H", "major")
    with pytest.raises(ConfigError, match="scale must be one of"):
        keys.pitch_classes("C", "lydian-ish")
    c_major = keys.pitch_classes("C", "major")
    assert keys.snap(61, c_major) == 60 and keys.snap(61, c_major, toward=70) == 62 and keys.snap(64, c_major) == 64
    # an E-major phrase fits C major best a major third down (smallest move among the best fits)
    e_major = [n(p, i * 0.5) for i, p in enumerate((64, 66, 68, 69, 71, 73, 75, 76))]
    assert keys.best_shift(e_major, c_major) == -4
    moved = keys.to_key(e_major, c_major)
    assert [x.pitch for x in moved] == [60, 62, 64, 65, 67, 69, 71, 72]   # contour kept, nothing snapped
    assert [x.start for x in moved] == [x.start for x in e_major]


def test_register_by_octaves_with_a_key_by_semitones_without():
    line = [[n(70), n(72, 0.5), n(74, 1.0)]]
    assert keys.median_pitch(keys.shape(line, register=60)[0]) == 60            # semitones: exactly there
    keyed = keys.shape(line, "C", "major", register=48)[0]
    assert abs(keys.median_pitch(keyed) - 48) <= 6                              # octaves: the key stays
    assert all(x.pitch % 12 in keys.pitch_classes("C", "major") for x in keyed)
    assert keys.shape(line) == line                                             # off / 0: untouched


def _stats(melodies: list[list[list[Note]]], pcs) -> tuple[float, float, list[float]]:
    notes = [x for m in melodies for p in m for x in p]
    medians = [keys.median_pitch([x for p in m for x in p]) for m in melodies]
    return keys.in_scale_share(notes, pcs), statistics.median(x.pitch for x in notes), medians


def test_key_and_register_move_real_samples(vae):
    """32 samples of 4 phrases: plain, then D minor around middle C. Every note is in D minor after."""
    d_minor = keys.pitch_classes("D", "minor")
    tokens = sampling.melodies(vae, 32, 4, 0.5, np.random.default_rng(0))
    plain = [sampling.melody_notes(rows) for rows in tokens]
    shaped = [sampling.melody_notes(rows, "D", "minor", 60) for rows in tokens]
    share0, median0, _ = _stats(plain, d_minor)
    share1, median1, medians = _stats(shaped, d_minor)
    print(f"\nshare in D minor {share0:.3f} -> {share1:.3f}; median pitch {median0:g} -> {median1:g} "
          f"(register 60); melody medians {min(medians):g}..{max(medians):g}")
    assert share0 < 0.8 and median0 > 66          # the model's own: many keys, high
    assert share1 == 1.0
    assert all(abs(m - 60) <= 6 for m in medians) and abs(median1 - 60) <= 3
    # the transposition keeps the rhythm: same onsets and durations, phrase by phrase
    for a, b in zip(plain, shaped):
        assert [[(x.start, x.duration) for x in p] for p in a] == [[(x.start, x.duration) for x in p] for p in b]
    semis = [sampling.melody_notes(rows, register=55) for rows in tokens]
    assert all(abs(keys.median_pitch([x for p in m for x in p]) - 55) <= 0.5 for m in semis)


def test_one_phrase_melodies_draw_what_sample_draws(vae):
    a = sampling.melodies(vae, 5, 1, 0.5, np.random.default_rng(3))[:, 0]
    b = vae.sample(5, 0.5, np.random.default_rng(3))
    assert (a == b).all()


def test_melody_phrases_are_related_not_copies(vae):
    """Consecutive phrases of a melody come from correlated latents (CONTINUITY), yet differ."""
    z = sampling.walk(400, 2, vae.z_dim, np.random.default_rng(0)).reshape(400, 2, -1)
    corr = float(np.mean([np.corrcoef(m[0], m[1])[0, 1] for m in z]))
    assert abs(corr - sampling.CONTINUITY) < 0.05 and abs(float(z.std()) - 1.0) < 0.02
    tokens = sampling.melodies(vae, 8, 4, 0.5, np.random.default_rng(1))
    assert all(len({tuple(r) for r in m}) > 1 for m in tokens)

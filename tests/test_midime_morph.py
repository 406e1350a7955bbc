"""Interpolation a musician hears (plugins/midime/morph.py): A first, B last, every step distinct.

Measured on real folk phrases (the first 2-bar window of tunes from music21's corpus, which the shipped
model was trained on) with the shipped model onnx_models/musicvae-mel2bar.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.midifile import write_notes
from bridge.runtime import ModelBundle, default_models_dir
from plugins.midime import melody
from plugins.midime.morph import morph
from plugins.midime.vae import EXPECT, MODEL_NAME, MusicVAE

MODEL_DIR = default_models_dir() / MODEL_NAME
# tunes of Ryan's Mammoth Collection whose neighbours' plain interpolations repeat steps (8 and 12 steps)
TUNES = ("WelcomeHereAgainReel", "WhipplesHornpipe", "LavensFavorite", "MillersReel", "OldMaidsOfGalwayReel",
         "OnceUponMyCheekReel", "BlackwaterReel", "DerbyHornpipe", "LadusReel", "MillersMaid")


@pytest.fixture(scope="module")
def vae():
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(f"{MODEL_DIR} is absent (cmt-bridge export-onnx {MODEL_NAME})")
    return MusicVAE(ModelBundle.load(MODEL_DIR, expect=EXPECT))


@pytest.fixture(scope="module")
def folk() -> list[np.ndarray]:
    pytest.importorskip("music21", reason="the folk tunes come from music21's corpus (the train extra)")
    from export.musicvae.folk import corpus_files, parse_file

    files = {f.stem: f for f in corpus_files() if f.parent.name == "ryansMammoth"}
    out = []
    for name in TUNES:
        _, tunes, err = parse_file(files[name])
        assert err is None and tunes, name
        out.append(tunes[0][1][0])
    return out


def _distinct(rows) -> int:
    return len({tuple(int(t) for t in r) for r in rows})


def test_folk_interpolations_start_on_a_end_on_b_and_never_repeat(vae, folk):
    pairs = list(zip(folk[::2], folk[1::2])) + list(zip(folk[1::2], folk[2::2]))
    before = {"repeats": 0, "not_a": 0, "not_b": 0}
    for steps in (5, 8, 12):
        for a, b in pairs:
            plain = vae.interpolate(a, b, steps)
            before["repeats"] += _distinct(plain) < steps
            before["not_a"] += not (plain[0] == a).all()
            before["not_b"] += not (plain[-1] == b).all()
            made = morph(vae, a, b, steps, np.random.default_rng(0))
            assert made.tokens.shape == (steps, melody.STEPS)
            assert (made.tokens[0] == a).all() and (made.tokens[-1] == b).all()
            assert made.distinct == steps, made.sources
            rec = vae.reconstruct(np.stack([a, b]))
            said = " ".join(made.remarks)
            assert ("phrase A: the model cannot reproduce it" in said) == (not (rec[0] == a).all())
            assert ("phrase B: the model cannot reproduce it" in said) == (not (rec[1] == b).all())
    print(f"\nplain interpolation over {3 * len(pairs)} folk pairs: {before}; morph: none")
    assert before["repeats"] >= 3 and before["not_a"] >= 3   # the faults the fix is measured against


def test_a_step_path_and_the_same_phrase_twice(vae, folk):
    a, b = folk[0], folk[1]
    assert (morph(vae, a, b, 2).tokens == np.stack([a, b])).all()
    assert len(morph(vae, a, b, 1).tokens) == 1
    same = morph(vae, a, a, 4, np.random.default_rng(0))
    assert any("the same phrase" in r for r in same.remarks)
    assert (same.tokens[0] == a).all() and (same.tokens[-1] == a).all()


def test_cli_interpolate_writes_a_first_and_b_last(vae, folk, tmp_path):
    import subprocess
    import sys

    a = write_notes(tmp_path / "a.mid", melody.notes_from_tokens(folk[2]))
    b = write_notes(tmp_path / "b.mid", melody.notes_from_tokens(folk[3]))
    r = subprocess.run([sys.executable, "-m", "plugins.midime", "interpolate", str(a), str(b), "--steps", "8",
                        "-o", "out", "--model", str(MODEL_DIR)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    from bridge.midifile import read_notes

    got = [melody.tokens_from_notes(read_notes(tmp_path / "out" / f"interpolation_{i:02d}.mid"))
           for i in range(1, 9)]
    assert (got[0] == folk[2]).all() and (got[-1] == folk[3]).all() and _distinct(got) == 8
    assert Path(tmp_path / "out" / "interpolation.png").is_file()

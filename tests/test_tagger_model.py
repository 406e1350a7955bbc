"""The shipped tagger model folder: the interface the plugin codes against, golden outputs, a real render."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bridge.runtime import ModelBundle

MODEL = Path(__file__).resolve().parent.parent / "onnx_models" / "tagger"
pytestmark = pytest.mark.skipif(not (MODEL / "manifest.json").is_file(), reason="no shipped tagger model")


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.load(MODEL)


def test_manifest_interface(bundle):
    from export.tagger import vocab

    m = bundle.manifest
    assert m["tags"] == vocab.TAGS and m["tag_groups"] == vocab.TAG_GROUPS
    assert set(m["thresholds"]) == set(m["tags"]) and all(0 < v < 1 for v in m["thresholds"].values())
    assert m["sample_rate"] == 16000 and m["window_seconds"] == 3.0
    g = bundle.graph("tagger")
    out = g.run(audio=np.zeros((3, 48000), np.float32))
    assert out["logits"].shape == (3, 24) and out["embedding"].shape[0] == 3 and out["embedding"].shape[1] <= 512


def test_golden_outputs_reproduce(bundle):
    from export.tagger.export import golden_input

    got = bundle.graph("tagger").run(audio=golden_input())
    np.testing.assert_allclose(got["logits"], np.array(bundle.manifest["golden"]["logits"]), atol=1e-4)


def test_hears_a_drum_beat_and_not_in_a_solo_flute():
    pytest.importorskip("fluidsynth")
    pytest.importorskip("pedalboard")
    from export.tagger import render, vocab

    font = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
    if not font.is_file():
        pytest.skip("needs TimGM6mb")
    ren = render.Renderer(str(font))
    rng = np.random.default_rng(0)
    fx = {"reverb": None, "wet": 0.0, "low_shelf_db": 0.0, "high_shelf_db": 0.0, "compress": False,
          "threshold_db": -20.0, "noise_snr_db": None, "gain_db": 0.0}
    melody = [(0.5 * i, 0.5 * i + 0.45, 72 + [0, 2, 4, 5, 7, 5, 4, 2][i % 8], 90, 0) for i in range(6)]
    flute = ren.render({"events": melody, "programs": {0: 73}, "effects": fx}, rng)
    beat = render._beat(120.0, 100.0, rng)
    band = ren.render({"events": melody + beat, "programs": {0: 73}, "effects": fx}, rng)
    bundle = ModelBundle.load(MODEL)
    p = 1 / (1 + np.exp(-bundle.graph("tagger").run(audio=np.stack([flute, band]))["logits"]))
    d = vocab.TAGS.index("drums")
    thr = bundle.manifest["thresholds"]["drums"]
    assert p[0, d] < thr < p[1, d]

"""The tagger's offline path end to end on a handful of real renders: data -> train (tiny) -> ONNX export."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fluidsynth")
pytest.importorskip("pedalboard")
pytest.importorskip("sklearn")

from bridge.runtime import ModelBundle  # noqa: E402
from export.tagger import data, vocab  # noqa: E402
from export.tagger.configs import CONFIGS  # noqa: E402
from export.tagger.export import export, golden_input  # noqa: E402
from export.tagger.pieces import parse_file  # noqa: E402
from export.tagger.train import train  # noqa: E402

FONTS = [Path(p) for p in data.SOUNDFONTS.values()]
pytestmark = pytest.mark.skipif(not all(f.exists() for f in FONTS), reason="needs the three GM soundfonts")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """Three Bach chorales and a folk tune as the train / valid / test pieces, 8 clips per soundfont."""
    from music21 import corpus

    root = tmp_path_factory.mktemp("tagger")
    files = [Path(p) for p in corpus.getComposer("bach")[:3]]
    pieces = [parse_file(f)[0] for f in files]
    abc = sorted(Path(p) for p in corpus.getCorePaths() if "/ryansMammoth/" in Path(p).as_posix())
    folk = parse_file(abc[0])[:1] if abc else []
    for p, split in zip(pieces, ("train", "valid", "test")):
        p["split"] = split
    for f in folk:
        f["split"] = "train"
    with open(root / "pieces.pkl", "wb") as fh:
        pickle.dump(pieces + folk, fh)
    data.prepare(root, jobs=1, shards={"train": 1, "valid": 1, "test": 1}, shard_size=8)
    return root


def test_renders_carry_consistent_labels(tiny_data):
    tr = data.load("train", root=tiny_data)
    assert tr["audio"].shape == (16, 48000) and tr["audio"].dtype == np.int16
    assert np.all(np.abs(tr["audio"]).max(axis=1) > 100)  # every clip sounds
    lab = tr["labels"]
    col = {t: i for i, t in enumerate(vocab.TAGS)}
    for group in ("texture", "tempo", "mode", "dynamics", "articulation"):
        assert np.all(lab[:, [col[t] for t in vocab.TAG_GROUPS[group]]].sum(1) == 1), group
    assert np.all(lab[:, :8].sum(1) >= 1)  # a pitched family sounds in every clip
    test = data.load("test", root=tiny_data)
    assert set(test["font"]) == {"fluidr3", "timgm6mb", "musescore"}
    assert not set(test["pieces"]) & set(tr["pieces"])  # split by piece


def test_tiny_train_and_export(tiny_data, tmp_path):
    ckpt = train(CONFIGS["tagger-tiny"], tmp_path / "run", data_root=tiny_data)
    state = torch.load(ckpt, weights_only=False)
    assert state["step"] == 3 and state["final"]
    out = export(str(ckpt), tmp_path / "model", data_root=tiny_data)
    bundle = ModelBundle.load(out)
    man = bundle.manifest
    assert man["tags"] == vocab.TAGS and set(man["thresholds"]) == set(vocab.TAGS)
    assert man["sample_rate"] == 16000 and man["window_seconds"] == 3.0
    assert man["validation"]["max_abs"] <= 1e-4
    got = bundle.graph("tagger").run(audio=golden_input())
    assert got["logits"].shape == (2, 24) and got["embedding"].shape[0] == 2
    np.testing.assert_allclose(got["logits"], np.array(man["golden"]["logits"]), atol=1e-5)
    assert json.loads((out / "manifest.json").read_text())["graphs"]["tagger"]["sha256"]


def test_mode_from_key_profiles():
    c_major = np.array([60, 62, 64, 65, 67, 69, 71, 72, 64, 67])
    a_minor = np.array([57, 59, 60, 62, 64, 65, 68, 69, 60, 64, 57])
    maj, mnr = vocab.key_correlations(c_major, np.ones(len(c_major)))
    assert maj > mnr
    maj, mnr = vocab.key_correlations(a_minor, np.ones(len(a_minor)))
    assert mnr > maj


def test_f1_thresholds_separate_a_clean_tag():
    from export.tagger.export import f1_thresholds

    labels = np.zeros((40, len(vocab.TAGS)), np.uint8)
    labels[:20, 0] = 1
    probs = np.full((40, len(vocab.TAGS)), 0.5)
    probs[:20, 0], probs[20:, 0] = 0.8, 0.3
    thr = f1_thresholds(labels, probs)
    assert 0.3 < thr["piano"] <= 0.8 and thr["strings"] == 0.5  # strings never occurs: the default

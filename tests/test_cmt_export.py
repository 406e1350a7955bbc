"""CMT export: a trained checkpoint -> model folder the host's ModelBundle loads and the bar sampler plays."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from bridge.errors import ModelError  # noqa: E402
from bridge.runtime import ModelBundle  # noqa: E402
from export import cmt_data  # noqa: E402
from export.cmt_export import EXPECT, export  # noqa: E402
from export.cmt_train import CONFIGS, train  # noqa: E402
from plugins.cmt.sampling import BarSampler  # noqa: E402


def test_export_validate_load_and_sample(tmp_path):
    from dataclasses import replace

    from music21 import corpus

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data = tmp_path / "data"
        cmt_data.prepare(data, jobs=1, files=[corpus.getWork(w) for w in ("bach/bwv66.6", "bach/bwv7.7")])
        train(replace(CONFIGS["cmt-tiny"], steps=4, valid_every=4, ckpt_every=4), tmp_path / "run", data=data)
        out = export(tmp_path / "run" / "ckpt-0000004.pt", tmp_path / "cmt", data=data)
    finally:
        torch.set_num_threads(before)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["validation"]["steps"] == 500 and manifest["validation"]["max_abs_diff"] < 1e-4
    bundle = ModelBundle.load(out, threads=1, expect=EXPECT)
    sampler = BarSampler.from_bundle(bundle, seed=0, total_bars=4)
    for b in range(4):
        notes, tok = sampler.bar(density=5, strength=3)
        assert tok[0, 2] == 6 and tok[0, 3] == 4
        assert all(0 <= n.start < 4.0 for part in notes.values() for n in part)
    manifest["vocab"]["pitch"] = 88
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="other CMT tokens"):
        BarSampler.from_bundle(ModelBundle.load(out, threads=1))

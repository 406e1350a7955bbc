"""CMT training loop on three chorales: the loss falls, per-field validation, exact resume, reloadable."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from export.cmt import data as cmt_data  # noqa: E402
from export.cmt.configs import CONFIGS  # noqa: E402
from export.cmt.train import load_model, train, windows  # noqa: E402
from plugins.cmt import tokens as T  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from music21 import corpus

    out = tmp_path_factory.mktemp("cmtdata")
    cmt_data.prepare(out, jobs=1, files=[corpus.getWork(w) for w in ("bach/bwv66.6", "bach/bwv7.7", "bach/bwv250")])
    return out


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_windows_start_on_bars_and_transpose(data):
    import numpy as np

    pieces, _ = cmt_data.load_split("train", data)
    w = windows(pieces, 6, 65, np.random.default_rng(0), (-5, 6))
    assert w.shape == (6, 65, len(T.FIELDS))
    assert (w[:, 0, T.F["type"]] == T.METRICAL).all() and (w[:, 0, T.F["beat"]] == T.BAR_LINE).all()


def test_train_resume_and_reload(data, tmp_path):
    cfg = CONFIGS["cmt-tiny"]
    straight = train(cfg, tmp_path / "a", data=data)
    valid = [h for h in straight["history"] if h["kind"] == "valid"]
    assert [h["step"] for h in valid] == [0, 10, 20]
    assert set(T.FIELDS) <= {k[5:] for k in valid[-1] if k.startswith("loss_")}
    train(cfg, tmp_path / "b", data=data, until=10)
    resumed = train(cfg, tmp_path / "b", data=data, resume=True)
    assert resumed["step"] == 20
    a, _ = load_model(tmp_path / "a" / "ckpt-0000020.pt")
    b, bcfg = load_model(tmp_path / "b" / "ckpt-0000020.pt")
    assert bcfg == cfg
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(x, y, msg=k)
    assert json.loads((tmp_path / "a" / "history.json").read_text()) == straight["history"]
    assert valid[-1]["loss"] < valid[0]["loss"]


def test_loss_falls_over_a_short_run(data, tmp_path):
    from dataclasses import replace

    cfg = replace(CONFIGS["cmt-tiny"], steps=60, valid_every=20, ckpt_every=60, lr=3e-3)
    h = [x for x in train(cfg, tmp_path, data=data)["history"] if x["kind"] == "valid"]
    assert h[0]["step"] == 0 and h[-1]["loss"] < 0.6 * h[0]["loss"]

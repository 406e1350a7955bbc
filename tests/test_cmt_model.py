"""CMT linear-attention transformer: parallel and recurrent forms agree; the exported step matches torch."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.cmt.model import CMTConfig, CMTModel, export_fields, export_step, field_offsets  # noqa: E402
from plugins.cmt.tokens import FIELDS, VOCAB_SIZES  # noqa: E402



@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two cores shared with a training run: more torch threads only contend (80 s instead of 4 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = CMTConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, dropout=0.0)


def _tokens(b: int, t: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, v, (b, t), generator=g) for v in VOCAB_SIZES], dim=-1)


def _model(cfg: CMTConfig = SMALL, seed: int = 0) -> CMTModel:
    torch.manual_seed(seed)
    return CMTModel(cfg).eval()


def test_parallel_and_recurrent_forms_agree():
    model = _model()
    tokens = _tokens(2, 96, 1)
    with torch.no_grad():
        hp = model.hidden(tokens)
        s, z = model.initial_state(2)
        steps = []
        for t in range(tokens.shape[1]):
            type_logits, h, s, z = model.step(tokens[:, t], s, z)
            steps.append(h)
            np.testing.assert_allclose(type_logits, model.type_head(hp[:, t]), atol=1e-4)
        hr = torch.stack(steps, dim=1)
    assert float((hp - hr).abs().max()) < 1e-4
    assert s.shape == (2, 2, 4, 16, 16) and z.shape == (2, 2, 4, 16)


def test_parallel_form_is_causal():
    model = _model()
    a, b = _tokens(1, 40, 2), _tokens(1, 40, 3)
    b[:, :25] = a[:, :25]
    with torch.no_grad():
        ha, hb = model.hidden(a), model.hidden(b)
    assert float((ha[:, :25] - hb[:, :25]).abs().max()) < 1e-5
    assert float((ha[:, 25:] - hb[:, 25:]).abs().max()) > 1e-3


def test_loss_trains_down_on_a_fixed_batch():
    model = CMTModel(SMALL)
    torch.manual_seed(0)
    tokens = _tokens(4, 48, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss, per_field = model.loss(tokens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss)
    assert len(per_field) == len(FIELDS)
    assert float(loss) < 0.7 * first


def test_onnx_step_matches_torch_after_500_steps(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = _model(CMTConfig(d_model=128, n_layers=2, n_heads=4, d_ff=256, dropout=0.0), seed=5)
    export_step(model, tmp_path / "step.onnx")
    export_fields(model, tmp_path / "fields.onnx")
    assert not model.training                       # exporting leaves the model as it was (dropout off)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    step = ort.InferenceSession(str(tmp_path / "step.onnx"), opts, providers=["CPUExecutionProvider"])
    fields = ort.InferenceSession(str(tmp_path / "fields.onnx"), opts, providers=["CPUExecutionProvider"])
    tokens = _tokens(1, 500, 6)
    s, z = model.initial_state(1)
    s_np, z_np = s.numpy(), z.numpy()
    with torch.no_grad():
        for t in range(500):
            tl, h, s, z = model.step(tokens[:, t], s, z)
            otl, oh, s_np, z_np, both = step.run(None, {"token": tokens[:, t].numpy(), "s": s_np, "z": z_np})
        np.testing.assert_allclose(otl, tl.numpy(), atol=1e-4)
        np.testing.assert_allclose(oh, h.numpy(), atol=1e-4)
        np.testing.assert_allclose(s_np, s.numpy(), rtol=1e-4, atol=1e-3)
        ttype = torch.tensor([2])
        ref = torch.cat(model.fields(h, ttype), dim=-1).numpy()
    (logits,) = fields.run(None, {"hidden": oh, "token_type": ttype.numpy()})
    np.testing.assert_allclose(logits, ref, atol=1e-4)
    np.testing.assert_allclose(both[:, 1], ref, atol=1e-4)          # the step's own note-type second stage
    with torch.no_grad():
        ref_metrical = torch.cat(model.fields(h, torch.tensor([1])), dim=-1).numpy()
    np.testing.assert_allclose(both[:, 0], ref_metrical, atol=1e-4)
    offsets = field_offsets(model.cfg)
    assert list(offsets) == list(FIELDS[1:]) and offsets["progress"][1] == logits.shape[1]


def test_default_model_is_small():
    model = CMTModel(CMTConfig())
    assert 2e6 < model.n_params() < 6e6

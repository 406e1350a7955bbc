"""CMT bar sampler on an exported (untrained) step: grammar, controls, constant state, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.cmt import tokens as T
from plugins.cmt.sampling import BarSampler, Sampling, sample

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    from export.cmt.model import CMTConfig, CMTModel, export_fields, export_step, field_offsets

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(3)
    model = CMTModel(CMTConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, dropout=0.0)).eval()
    d = tmp_path_factory.mktemp("cmt")
    export_step(model, d / "step.onnx")
    export_fields(model, d / "fields.onnx")
    torch.set_num_threads(before)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = {n: ort.InferenceSession(str(d / f"{n}.onnx"), opts, providers=["CPUExecutionProvider"])
                for n in ("step", "fields")}

    def step(**feeds):
        tl, h, s, z, both = sessions["step"].run(None, feeds)
        return {"type_logits": tl, "hidden": h, "s": s, "z": z, "field_logits": both}

    def fields(**feeds):
        return {"logits": sessions["fields"].run(None, feeds)[0]}

    return step, fields, field_offsets(model.cfg), model.state_shapes(1)


def _sampler(graphs, **kw) -> BarSampler:
    step, fields, offsets, shapes = graphs
    return BarSampler(step, fields, offsets, shapes, **kw)


def test_bars_follow_the_grammar_and_the_controls(graphs):
    bs = _sampler(graphs, beats_per_bar=3.0, total_bars=8, control=1.0, seed=1)
    shapes = (bs.s.shape, bs.z.shape)
    notes_total = fed = 0
    for b in range(8):
        notes, tok = bs.bar(density=b % 7, strength=6 - b % 7)
        fed += len(tok)
        assert tok[0, T.F["type"]] == T.METRICAL and tok[0, T.F["beat"]] == T.BAR_LINE
        assert (tok[0, T.F["density"]] - 1, tok[0, T.F["strength"]] - 1) == (b % 7, 6 - b % 7)
        assert (tok[:, T.F["bar"]] == b + 1).all() and (tok[:, T.F["progress"]] == 1 + 2 * b).all()
        kinds = tok[1:, T.F["type"]]
        assert set(kinds.tolist()) <= {T.METRICAL, T.NOTE} and (kinds[:1] != T.NOTE).all()
        positions = tok[1:][kinds == T.METRICAL][:, T.F["beat"]] - 2
        assert (np.diff(positions) > 0).all() and ((0 <= positions) & (positions < 12)).all()
        for part in notes.values():
            notes_total += len(part)
            assert all(0 <= n.start < 3.0 and n.duration > 0 for n in part)
        assert (bs.s.shape, bs.z.shape) == shapes
    assert notes_total > 0 and len(bs.tokens) == fed   # a sampled bar line ends a bar without being fed


def test_same_seed_same_music_and_control_zero_leaves_the_model_free(graphs):
    a = [_sampler(graphs, seed=7).bar(3, 3)[1] for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    free = _sampler(graphs, control=0.0, seed=7)
    free.bar(3, 3)                              # the first bar has no model prediction yet: the request is used
    got = [tuple(free.bar(0, 0)[1][0, [T.F["density"], T.F["strength"]]] - 1) for _ in range(6)]
    assert any(g != (0, 0) for g in got)


def test_sample_masks_temperature_and_top_p():
    rng = np.random.default_rng(0)
    logits = np.array([5.0, 1.0, 0.0, -1.0])
    assert sample(logits, rng, 0.0) == 0
    assert sample(logits, rng, 0.0, allowed=np.array([False, False, True, True])) == 2
    assert {sample(logits, rng, 1.0, 0.5) for _ in range(50)} == {0}
    assert len({sample(logits, rng, 5.0, 1.0) for _ in range(200)}) == 4
    assert Sampling(per_field={"pitch": (0.5, 0.9)}).of("pitch") == (0.5, 0.9)


@pytest.mark.parametrize("bpb", [2.0, 3.0, 4.0, 6.0, 8.0])
def test_rhythm_guide_bounds_invert_the_density_classes(bpb):
    from plugins.cmt import tokens as T
    from plugins.cmt.sampling import BarSampler

    s = BarSampler(None, None, {}, ((1, 1, 1, 1, 1), (1, 1, 1, 1)), beats_per_bar=bpb)
    seen = set()
    for d in range(T.DENSITY_CLASSES):
        lo, hi = s.positions_for(d)
        if lo > hi or T.density_class(lo, bpb) != d:
            continue                      # a class this meter cannot express (e.g. 7 in 2/4 needs > 6 positions)
        assert T.density_class(hi, bpb) == d
        assert lo == 0 or T.density_class(lo - 1, bpb) < d
        seen.add(d)
    assert {0, 1, 2, 3} <= seen

"""Bring your own generator: a tiny ONNX decoder built here with the onnx helper API (random weights,
NOT trained: it checks the interface only) plugs in through its manifest; bad manifests get one line."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.api import ModelError
from plugins.visuals import shader as S
from plugins.visuals.decoder import OnnxImageGenerator

ROOT = Path(__file__).resolve().parent.parent
LATENT, SIDE = 16, 8


def make_decoder(folder: Path, layout: str = "NCHW", channels: int = 3, value_range=(-1.0, 1.0),
                 section: dict | None = None) -> Path:
    """latent [1, 16] -> MatMul -> Tanh -> Reshape to [1, C, 8, 8] (NCHW) or [1, 8, 8, C] (NHWC)."""
    from onnx import TensorProto, helper, numpy_helper, save

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w = rng.standard_normal((LATENT, channels * SIDE * SIDE)).astype(np.float32)
    shape = [1, channels, SIDE, SIDE] if layout == "NCHW" else [1, SIDE, SIDE, channels]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
         helper.make_node("Reshape", ["t", "shape"], ["img"])],
        "tiny_decoder",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, LATENT])],
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, shape)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(shape, np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "decoder.onnx"
    save(model, str(path))
    manifest = {"name": "tiny-decoder", "version": "test", "description": "random weights, interface test only",
                "graphs": {"decoder": {"file": "decoder.onnx", "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                       "inputs": {"latent": {"tensor": "z", "dtype": "float32", "shape": [1, LATENT]}},
                                       "outputs": {"image": {"tensor": "img", "dtype": "float32", "shape": shape}}}},
                "image_generator": section if section is not None else
                {"latent_size": LATENT, "layout": layout, "range": list(value_range)}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def vector(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = np.zeros(S.N_PARAMS, np.float32)
    v[S.SHAPE], v[S.PHASE] = rng.uniform(-1, 1, 8), rng.uniform(0, 10)
    return v


@pytest.mark.parametrize("layout,channels", [("NCHW", 3), ("NHWC", 3), ("NCHW", 1), ("NHWC", 4)])
def test_a_decoder_renders_frames_through_its_manifest(tmp_path, layout, channels):
    with OnnxImageGenerator(make_decoder(tmp_path / "dec", layout, channels), size=32, seed=1) as g:
        a, b = g.render(vector(1)), g.render(vector(2))
        assert a.shape == (32, 32, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, g.render(vector(1)))      # same vector, same frame
        assert np.abs(a.astype(int) - b).mean() > 5                # another vector, another frame
        z = g.latent_of(vector(1))
        assert z.shape == (1, LATENT) and 0.3 < z.std() < 3.0       # about unit variance, as a GAN's z
        near = vector(1)
        near[S.SHAPE] += 0.01
        assert np.abs(g.latent_of(near) - z).max() < 0.05           # a smooth walk stays smooth


def test_value_range_maps_to_black_and_white(tmp_path):
    with OnnxImageGenerator(make_decoder(tmp_path / "d", value_range=(-1.0, 1.0)), 8) as wide, \
            OnnxImageGenerator(make_decoder(tmp_path / "e", value_range=(-0.1, 0.1)), 8) as narrow:
        v = vector(3)
        assert (narrow.render(v) == 255).mean() > (wide.render(v) == 255).mean()


@pytest.mark.parametrize("section,reason", [
    (None, "no 'image_generator'"), ({"layout": "NCHW"}, "latent_size"),
    ({"latent_size": 16, "layout": "CHW"}, "layout one of"), ({"latent_size": 99}, "generator failed"),
    ({"latent_size": 16, "image": "pixels"}, "needs input 'latent' and output 'pixels'")])
def test_bad_manifests_are_one_line_model_errors(tmp_path, section, reason):
    folder = make_decoder(tmp_path / "bad", section=section or {})
    if section is None:
        m = json.loads((folder / "manifest.json").read_text())
        del m["image_generator"]
        (folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelError, match=reason):
        OnnxImageGenerator(folder, 16)


def test_visualize_with_your_own_generator(tmp_path):
    from visuals_fixture import clicks

    import soundfile

    x, _ = clicks(2.0, 22050)
    soundfile.write(str(tmp_path / "c.wav"), x, 22050)
    folder = make_decoder(tmp_path / "dec")
    r = subprocess.run([sys.executable, "-m", "bridge", "visualize", str(tmp_path / "c.wav"), "-o",
                        str(tmp_path / "c.mp4"), "--size", "32", "--fps", "10", "--generator", str(folder)],
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    import av

    with av.open(str(tmp_path / "c.mp4")) as c:
        assert sum(1 for _ in c.decode(c.streams.video[0])) == 20

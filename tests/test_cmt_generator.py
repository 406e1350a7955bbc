"""The "cmt" generator through its contract (fake GeneratorContext), on the shipped ONNX CMT model:
bars in time, density/strength control, a video as the source, a (fake) camera, clear errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pluggy
import pytest

from bridge import hookspecs
from bridge.errors import InputError
from bridge.events import Phrase
from bridge.generator import GeneratorContext, validate
from bridge.runtime import ModelBundle, default_models_dir
from clips import moving_texture, still_then_moving
from plugins.cmt import plugin
from plugins.cmt import tokens as T
from plugins.cmt.generator import CMTGenerator
from plugins.cmt.sampling import EXPECT, MODEL_NAME

MODEL_DIR = default_models_dir() / MODEL_NAME
CHANNELS = {i.channel for i in T.INSTRUMENTS}


@pytest.fixture(scope="module")
def bundle():
    assert (MODEL_DIR / "manifest.json").is_file(), f"{MODEL_DIR} is missing: cmt-bridge export-onnx cmt"
    return ModelBundle.load(MODEL_DIR, threads=1, expect=EXPECT)


class FakeContext(GeneratorContext):
    def __init__(self, tempo: float = 120.0):
        super().__init__()
        self.reports: list[str] = []
        self.report = self.reports.append
        self.tempo = lambda: tempo


def make(bundle, **params) -> CMTGenerator:
    g = CMTGenerator({MODEL_NAME: bundle}, FakeContext())
    for k, v in params.items():
        g.set(k, v)
    return g


def test_contract_and_registration():
    validate(CMTGenerator, "plugins.cmt.plugin")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    assert [CMTGenerator] in pm.hook.cmtbridge_register_generators()
    names = {p.name for p in CMTGenerator.params}
    assert {"density", "strength", "control", "temperature", "top_p", "pitch_temperature"} <= names
    assert {a.name for a in CMTGenerator.actions} >= {"video", "camera", "manual"}


def test_bars_are_one_bar_long_on_the_instrument_channels(bundle):
    g = make(bundle, seed=3)
    g.prepare()
    played = 0
    for i in range(6):
        ph = g.next_phrase()
        assert isinstance(ph, Phrase) and ph.length == 4.0 and ph.meta["bar"] == i + 1
        for n in ph.notes:
            assert 0.0 <= n.start < 4.0 and n.duration > 0 and n.channel in CHANNELS
            assert abs(n.start * 4 - round(n.start * 4)) < 1e-9   # on the 16th grid
        played += len(ph.notes)
    assert played > 0


def test_requested_density_and_strength_are_what_the_bar_token_carries(bundle):
    g = make(bundle, seed=1, density=6, strength=4)
    g.next_phrase()
    bar = T.bar_controls(np.stack(g.sampler.tokens))[-1]
    assert tuple(bar) == (6, 4)
    g.set("density", 1)
    ph = g.next_phrase()
    assert ph.meta["density"] == 1 and tuple(T.bar_controls(np.stack(g.sampler.tokens))[-1])[0] == 1


def test_busy_bars_have_more_onsets_than_sparse_ones(bundle):
    def onsets(density: int) -> float:
        g = make(bundle, seed=11, density=density, strength=2)
        return np.mean([len({n.start for n in g.next_phrase().notes}) for _ in range(8)])

    assert onsets(6) > onsets(1)


def test_same_seed_same_music(bundle):
    a, b = make(bundle, seed=42), make(bundle, seed=42)
    assert [a.next_phrase().notes for _ in range(3)] == [b.next_phrase().notes for _ in range(3)]


def test_video_sets_the_controls_bar_by_bar_then_back_to_manual(bundle, tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=8.0)   # 8 s at 120 BPM = 4 bars of 4/4
    g = make(bundle, seed=0)
    first = g.perform("video", [str(clip)])
    assert len(first) == 1 and first[0].meta["source"] == "video"
    assert len(g.video_controls) == 4
    phrases = first + [g.next_phrase() for _ in range(3)]
    dens = [p.meta["density"] for p in phrases]
    assert dens[0] < dens[-1], dens          # still first half, fast motion in the second
    assert g.next_phrase().meta["source"] == "manual"
    assert any("back to manual" in r for r in g.context.reports)


@pytest.mark.parametrize("path,match", [("", "needs the path"), ("/nope/clip.mp4", "clip.mp4")])
def test_bad_video_paths_are_input_errors(bundle, path, match):
    g = make(bundle)
    with pytest.raises(InputError, match=match):
        g.perform("video", [path])
    assert g.source == "manual"


def test_a_text_file_is_not_a_video(bundle, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    with pytest.raises(InputError):
        make(bundle).perform("video", [str(bad)])


def test_missing_camera_is_a_clear_error(bundle):
    g = make(bundle)
    with pytest.raises(InputError, match="no camera 7"):
        g.perform("camera", [7])
    assert g.source == "manual" and g.camera is None


def test_camera_motion_drives_the_controls(bundle, tmp_path):
    import cv2

    clip = moving_texture(tmp_path / "cam.mp4", [14] * 400)
    captures = []

    def fake_camera(index: int):
        cap = cv2.VideoCapture(str(clip))
        captures.append(cap)
        return cap

    g = CMTGenerator({MODEL_NAME: bundle}, FakeContext(tempo=600.0), camera_factory=fake_camera)  # 0.4 s bars
    g.perform("camera", [0])
    assert g.source == "camera"
    import time

    deadline = time.monotonic() + 10
    while g.camera.frames < 30 and time.monotonic() < deadline and not g.camera.error:
        time.sleep(0.05)
    d, s = g.controls()
    assert d >= 3, (d, s)                     # fast motion -> a busy bar
    ph = g.next_phrase()
    assert ph.meta["source"] == "camera"
    g.perform("manual", [])
    assert g.camera is None and g.source == "manual"
    g.close()


def test_a_camera_that_stops_falls_back_to_manual(bundle, tmp_path):
    import cv2

    clip = moving_texture(tmp_path / "short.mp4", [3] * 5)
    g = CMTGenerator({MODEL_NAME: bundle}, FakeContext(), camera_factory=lambda i: cv2.VideoCapture(str(clip)))
    g.perform("camera", [0])
    g.camera._thread.join(timeout=5)
    assert g.next_phrase().meta["source"] == "manual"
    assert any("stopped giving frames" in r for r in g.context.reports)


def test_restart_starts_a_new_piece(bundle):
    g = make(bundle, seed=2)
    for _ in range(3):
        g.next_phrase()
    out = g.perform("restart", [])
    assert len(out) == 1 and out[0].meta["bar"] == 1
    assert len(T.bar_controls(np.stack(g.sampler.tokens))) == 1


def test_live_parameters_reach_the_sampler(bundle):
    g = make(bundle)
    g.set("control", 0.25)
    g.set("pitch_temperature", 0.0)
    assert g.sampler.control == 0.25 and g.sampler.sampling.of("pitch")[0] == 0.0
    assert Path(MODEL_DIR).is_dir()


def test_rhythm_guide_keeps_every_bar_in_its_density_class(bundle):
    g = make(bundle, seed=4, guide=True)
    for d in (1, 2, 3, 4, 5, 2):
        g.set("density", d)
        ph = g.next_phrase()
        bar = np.stack(g.sampler.tokens[g.sampler.bar_starts[-1]:])
        again = T.encode(T.decode(bar, 4.0), 4.0, bars=1)
        assert T.bar_controls(again)[0][0] == d, (d, len(ph.notes))


def test_long_streams_reprime_a_fresh_state_within_the_training_context(bundle):
    from plugins.cmt.sampling import BarSampler

    sampler = BarSampler.from_bundle(bundle, seed=0, context=128)
    for _ in range(12):
        notes, tok = sampler.bar(5, 3)
        assert len(sampler.tokens) <= 128 + 160
    assert sampler.reprimes >= 1
    assert sampler.bar_index == 12 and tok[0, 7] == 12     # bar numbers keep counting (bar field = 1 + index)


"""The visuals mapping as units: determinism per seed, smoothness (nearby vectors -> nearby pictures),
onsets -> motion and pulse, silence -> calm, tags -> palette, the prompt schedule on bar lines."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.visuals import shader as S
from plugins.visuals.features import FrameAnalyser, frame_features, normalise_onsets
from plugins.visuals.palette import hue_of, scene_of
from plugins.visuals.steering import Projection, Walker
from visuals_fixture import clicks


@pytest.fixture(scope="module")
def tagger():
    from plugins.tagger.tagger import Tagger

    return Tagger.load()


@pytest.fixture(scope="module")
def renderer():
    from plugins.visuals.render import ShaderRenderer

    try:
        r = ShaderRenderer(64)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"no headless OpenGL here: {e}")
    yield r
    r.close()


def analysis_of(tagger, samples, fps=20.0):
    from plugins.visuals.analysis import analyse

    return analyse(samples, tagger, fps)


def test_same_seed_same_vectors_other_seed_other_walk(tagger):
    from plugins.visuals.analysis import frame_vectors

    x, _ = clicks(5.0, tagger.rate)
    a = analysis_of(tagger, x)
    v1, v2, v3 = frame_vectors(a, 5), frame_vectors(analysis_of(tagger, x), 5), frame_vectors(a, 6)
    assert v1.shape == (100, S.N_PARAMS)
    np.testing.assert_array_equal(v1, v2)
    assert np.abs(v1[:, S.SHAPE] - v3[:, S.SHAPE]).mean() > 0.05


def test_the_walk_is_smooth_frame_to_frame(tagger):
    from plugins.visuals.analysis import frame_vectors

    x, _ = clicks(6.0, tagger.rate)
    x[len(x) // 2:] = np.sin(2 * np.pi * 880 * np.arange(len(x) - len(x) // 2) / tagger.rate) * 0.5  # a new sound
    v = frame_vectors(analysis_of(tagger, x, fps=30.0), 0)
    steps = np.abs(np.diff(v[:, S.SHAPE], axis=0)).max(axis=1)
    total = np.abs(v[-1, S.SHAPE] - v[0, S.SHAPE]).max()
    assert total > 0.05                      # the sound changed, so the walk moved...
    assert steps.max() < 0.1 * max(total, 0.3)   # ...gliding there, never jumping


def test_projection_is_continuous_and_seeded():
    rng = np.random.default_rng(0)
    e = rng.random((4, 64))
    p = Projection(64, seed=1)
    base = p(e)
    near = p(e + 1e-3 * rng.standard_normal(e.shape), centre=e.mean(axis=0))
    assert np.abs(near - p(e, centre=e.mean(axis=0))).max() < 0.01
    assert np.all(np.abs(base - p.offset) < 1.0)
    assert not np.allclose(Projection(64, seed=2)(e), base)


def test_nearby_vectors_give_nearby_pictures(renderer):
    rng = np.random.default_rng(3)
    v = np.zeros(S.N_PARAMS, np.float32)
    v[S.SHAPE], v[S.ZOOM], v[S.WARP], v[S.PHASE] = rng.uniform(-1, 1, 8), 1.9, 3.2, 4.0
    v[S.PALETTE] = scene_of({"piano": 0.9, "major": 0.8}).palette
    far = v.copy()
    far[S.SHAPE] = rng.uniform(-1, 1, 8)
    img = renderer.render(v).astype(float)
    np.testing.assert_array_equal(renderer.render(v), img)          # no time, no randomness
    d_far = np.abs(renderer.render(far) - img).mean()
    d = []
    for eps in (0.002, 0.006, 0.02):
        near = v.copy()
        near[S.SHAPE] += eps
        d.append(np.abs(renderer.render(near) - img).mean())
    assert d[0] < d[1] < d[2] < d_far       # the picture changes as far as the vector moves
    assert d[0] < 0.1 * d_far
    assert img.std() > 10                      # a picture, not a flat field


def test_onsets_kick_motion_and_pulse_silence_is_calm():
    w = Walker(30.0, seed=0)
    scene = scene_of({})
    shape = np.zeros(8)
    quiet = [w.step(shape, scene, 0.0, -30.0) for _ in range(10)]
    hit = w.step(shape, scene, 1.0, -30.0)
    after = [w.step(shape, scene, 0.0, -30.0) for _ in range(30)]
    steps = np.diff([q[S.PHASE] for q in quiet])
    assert np.allclose(steps, steps[0], rtol=1e-3)             # steady drift between onsets (float32 phase)
    assert hit[S.PHASE] - quiet[-1][S.PHASE] > 5 * steps[0]   # the onset kicks the motion
    assert hit[S.PULSE] == pytest.approx(1.0)
    pulses = [a[S.PULSE] for a in after]
    assert all(b < a for a, b in zip(pulses, pulses[1:])) and pulses[-1] < 0.05
    silent = Walker(30.0, seed=0)
    vs = [silent.step(shape, scene, 0.0, -120.0) for _ in range(30)]
    assert max(v[S.PULSE] for v in vs) == 0.0
    assert vs[-1][S.PHASE] - vs[0][S.PHASE] < 29 * steps[0]  # silence drifts slower than sound


def test_click_onsets_land_on_their_frames():
    rate, fps = 16000, 20.0
    x, times = clicks(4.0, rate)
    f = frame_features(x, rate, fps, 80)
    onset = normalise_onsets(f.onset)
    peaks = [int(t * fps) for t in times]
    others = np.setdiff1d(np.arange(80), np.concatenate([[p - 1, p, p + 1] for p in peaks]))
    assert min(onset[p] for p in peaks) > 3 * onset[others].max()
    silent = FrameAnalyser(rate)
    silent.frame(np.zeros(1024))
    assert silent.frame(1e-5 * np.ones(1024))[0] == 0.0       # below the gate: no onset


def test_tags_choose_the_palette_smoothly():
    minor = scene_of({"strings": 0.9, "minor": 0.9, "soft": 0.8})
    major = scene_of({"strings": 0.9, "major": 0.9, "loud": 0.8})
    assert np.abs(minor.palette - major.palette).max() > 0.05
    a = scene_of({"piano": 0.50}).palette
    b = scene_of({"piano": 0.51}).palette
    assert np.abs(a - b).max() < 0.02
    assert hue_of({}) == pytest.approx(0.55)
    assert scene_of({"fast": 0.9}).speed > scene_of({"slow": 0.9}).speed


def test_jitter_shader_is_the_same_picture_code():
    jxs = S.jitter_shader()
    assert S.BODY.strip() in jxs and "jittershader" in jxs
    for name in ("shape_a", "shape_b", "phase", "pulse", "zoom", "rotation", "warp", "pal_a", "pal_d"):
        assert f'<param name="{name}"' in jxs and f'<bind param="{name}"' in jxs
    assert len(S.SCENE) == 12


def test_schedule_changes_prompts_on_bar_lines_only():
    from plugins.visuals.schedule import bar_times, estimate_beat, keyframes, render_schedule

    fps = 30.0
    onset = np.zeros(int(12 * fps))
    onset[(np.arange(0.2, 12, 0.5) * fps).astype(int)] = 1.0        # 120 BPM, first beat at 0.2 s
    period, first = estimate_beat(onset, fps)
    assert period == pytest.approx(0.5, abs=0.04) and first == pytest.approx(0.2, abs=0.04)
    bars = bar_times(12.0, period, first)
    centres = np.arange(1.5, 12, 1.0)
    prompts = ["a"] * 4 + ["b"] * 7
    keys = keyframes(bars, centres, prompts, fps)
    assert [k["prompt"] for k in keys] == ["a", "b"]
    bar_frames = {int(round(b * fps)) for b in bars}
    assert all(k["frame"] in bar_frames for k in keys)
    assert render_schedule(keys, "deforum").startswith("{") and '"keyframes"' in render_schedule(keys, "parseq")
    assert estimate_beat(np.zeros(100), fps) == (0.5, 0.0)
    from plugins.visuals.commands import SCHEDULE_FORMATS
    from plugins.visuals.schedule import FORMATS

    assert SCHEDULE_FORMATS == FORMATS


def test_live_steering_follows_clicks_causally(tagger):
    from plugins.visuals.live import LiveSteering

    fps = 20.0
    x, times = clicks(4.0, tagger.rate, every_s=1.0, first_s=2.05)      # 2 s of tone, then clicks
    steer = LiveSteering(tagger, fps, seed=3)
    vectors = []
    for i in range(int(4.0 * fps)):
        pos = int((i + 1) / fps * tagger.rate)
        vectors.append(steer.frame(lambda n, p=pos: x[max(0, p - n):p]))
    pulse = np.array([v[S.PULSE] for v in vectors])
    first_click = int(times[0] * fps)
    assert pulse[:first_click].max() < 0.3 < pulse[first_click:first_click + 2].max()
    assert steer.tags and not steer.silent                      # tagged while it played
    again = LiveSteering(tagger, fps, seed=3)
    same = [again.frame(lambda n, p=int((i + 1) / fps * tagger.rate): x[max(0, p - n):p]) for i in range(len(vectors))]
    np.testing.assert_array_equal(np.stack(same), np.stack(vectors))


def test_the_generator_sends_its_declared_messages(tagger):
    from plugins.visuals.generator import VisualsGenerator

    sent = []
    gen = VisualsGenerator({"tagger": tagger.bundle})
    gen.context.send = lambda message, *args: sent.append((message, args))
    v = np.arange(S.N_PARAMS, dtype=np.float32) / 100
    gen.send_frame(v)
    declared = {m.name for m in VisualsGenerator.messages}
    assert [m for m, _ in sent] == ["params", "pulse", "palette"] and set(m for m, _ in sent) <= declared
    params, pulse, palette = (a for _, a in sent)
    assert len(params) == 12 and params[8] == pytest.approx(v[S.PHASE]) and params[-1] == pytest.approx(v[S.WARP])
    assert pulse == (pytest.approx(float(v[S.PULSE])),) and len(palette) == 12
    gen.close()

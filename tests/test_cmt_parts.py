"""CMT parts play their instruments: register, role, chord size, channels, dynamics (plugins/cmt/parts.py),
with the shipped model's rules from its manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bridge.events import Note
from bridge.runtime import ModelBundle, default_models_dir
from plugins.cmt.parts import DEFAULT_RULES, arrange, fold, registers, rules_from_manifest
from plugins.cmt.sampling import EXPECT, BarSampler

MODEL = default_models_dir() / "cmt"


@pytest.fixture(scope="module")
def bundle():
    if not (MODEL / "manifest.json").is_file():
        pytest.skip("no shipped CMT model")
    return ModelBundle.load(MODEL, threads=1, expect=EXPECT)


def test_the_manifest_keeps_the_fixed_part_ranges(bundle):
    parts = bundle.manifest["parts"]
    assert set(parts) == set(DEFAULT_RULES)
    rules = rules_from_manifest(bundle.manifest)
    assert rules["bass"].max_chord == 1 and rules["lead"].max_chord == 1 and rules["lead"].low >= 60
    changed = json.loads(json.dumps(bundle.manifest))
    changed["parts"]["lead"]["low"] = 72
    assert rules_from_manifest(changed)["lead"].low == 72
    changed["parts"]["banjo"] = dict(parts["lead"])
    with pytest.raises(Exception, match="unknown part 'banjo'"):
        rules_from_manifest(changed)


def test_a_bass_that_stacks_chords_above_the_strings_becomes_a_bass_line():
    strings = [Note(p, 90, 0.0, 4.0, 1) for p in (55, 59, 62)]
    bass = [Note(p, 90, 0.0, 2.0, 3) for p in (60, 64, 67, 78)] + [Note(66, 90, 1.0, 1.0, 3)]
    lead = [Note(40, 90, 0.0, 1.0, 0), Note(43, 90, 0.0, 1.0, 0), Note(100, 90, 2.0, 1.0, 0)]
    out = arrange({"strings": strings, "bass": bass, "lead": lead}, strength=3)
    low, high, chord = registers(out)["bass"]
    assert chord == 1                                     # one note at a time
    assert high < min(n.pitch for n in out["strings"])    # below the harmony
    assert low >= DEFAULT_RULES["bass"].low
    first = [n for n in out["bass"] if n.start == 0.0][0]
    assert first.pitch % 12 == 60 % 12 and first.duration == 1.0   # the lowest, an octave down; ends at the next
    low, high, chord = registers(out)["lead"]
    assert chord == 1 and DEFAULT_RULES["lead"].low <= low and high <= DEFAULT_RULES["lead"].high
    assert [n.pitch % 12 for n in out["lead"]] == [43 % 12, 100 % 12]    # the top note kept, folded
    assert len(out["strings"]) == 3 and {n.channel for n in out["strings"]} == {3}   # strings on 4


def test_channels_parts_and_dynamics():
    notes = {"lead": [Note(72, 90, 0.0, 1.0), Note(74, 90, 1.5, 0.5)], "drums": [Note(36, 90, 0.0, 0.25, 9)]}
    out = arrange(notes, channels={"lead": 11}, parts=("lead",), velocity=70, accent=1.0, strength=3)
    assert set(out) == {"lead"} and {n.channel for n in out["lead"]} == {10}
    down, off = (n.velocity for n in out["lead"])
    assert down > off > 70                                # the downbeat stands out; the lead sits above
    flat = arrange(notes, parts=("lead",), velocity=70, accent=0.0, strength=7)
    assert {n.velocity for n in flat["lead"]} == {70 + DEFAULT_RULES["lead"].balance}
    loud = arrange(notes, parts=("lead",), velocity=70, accent=1.0, strength=7)
    assert loud["lead"][1].velocity > out["lead"][1].velocity     # a stronger bar is louder
    raw = arrange({"bass": [Note(80, 90, 0.0, 1.0), Note(84, 90, 0.0, 1.0)]}, enforce=False)
    assert [n.pitch for n in raw["bass"]] == [80, 84]          # off: the model's notes as sampled
    assert fold(20, 28, 55) == 32 and fold(90, 28, 55) == 54 and fold(50, 60, 64) == 62


def test_sampled_bars_keep_every_part_in_its_register(bundle):
    """What the issue saw (a bass to F#5 with 53 notes on 11 onsets, a flute down to E2) cannot happen."""
    sampler = BarSampler.from_bundle(bundle, seed=4, guide=True)
    raw_bass_chord, seen = 0, set()
    for _ in range(12):
        notes, _ = sampler.bar(6, 5)
        raw_bass_chord = max(raw_bass_chord, registers(notes).get("bass", (0, 0, 0))[2])
        out = arrange(notes, strength=5)
        seen |= set(out)
        for name, (low, high, chord) in registers(out).items():
            rule = DEFAULT_RULES[name]
            assert chord <= rule.max_chord, (name, chord)
            if rule.role != "drums":
                assert rule.low <= low and high <= rule.high, (name, low, high)
        if "bass" in out:
            for b in out["bass"]:
                above = [n.pitch for k, v in out.items() if k not in ("bass", "drums") for n in v
                         if n.start <= b.start < n.start + n.duration]
                assert not above or b.pitch < min(above) or b.pitch - 12 < DEFAULT_RULES["bass"].low
    assert "bass" in seen and raw_bass_chord > 1      # the model did stack bass notes; the parts did not


def test_the_generator_plays_arranged_parts_with_a_seed_it_shows(bundle):
    from plugins.cmt.generator import CMTGenerator

    gen = CMTGenerator(models={"cmt": bundle})
    seed = gen.state()["seed"]
    assert isinstance(seed, int) and seed >= 0
    gen.set("bass_channel", 12)
    gen.set("piano_channel", 0)
    bars = [gen.next_phrase() for _ in range(4)]
    chans = {n.channel for p in bars for n in p.notes}
    assert 4 not in chans and chans <= {2, 3, 11, 6, 9}
    again = CMTGenerator(models={"cmt": bundle})
    again.set("seed", seed)
    again.set("bass_channel", 12)
    again.set("piano_channel", 0)
    assert [again.next_phrase().notes for _ in range(4)] == [p.notes for p in bars]   # the seed makes it again
    assert np.mean([n.velocity for p in bars for n in p.notes]) != 90                  # not the old fixed 90


def test_motion_sensitivity_and_target_tempo_for_video():
    from plugins.cmt.video import bar_grid, controls_from_speed

    times = np.arange(0, 8.0, 1 / 15)
    noise = 0.006 + 0.001 * np.random.default_rng(0).standard_normal(len(times))   # a still shot's sensor noise
    loud = controls_from_speed(times, noise, 8.0, 15.0, bars=4)
    calm = controls_from_speed(times, noise, 8.0, 15.0, bars=4, sensitivity=0.5)
    assert (loud.density > 1).all() and (calm.density == 1).all()      # the trim reaches the calmest class
    busier = controls_from_speed(times, noise, 8.0, 15.0, bars=4, sensitivity=8.0)
    assert (busier.density > loud.density).all()
    assert bar_grid(60.0, 4.0, tempo=80.0) == (20, 80.0)              # 20 bars of 4 beats in 60 s: 80 BPM
    assert bar_grid(60.0, 4.0)[1] == pytest.approx(112.0)             # default: nearest 110
    with pytest.raises(Exception, match="tempo must be in range"):
        bar_grid(60.0, 4.0, tempo=500.0)

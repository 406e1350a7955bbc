"""The "midime" generator through its contract (fake GeneratorContext), on the real ONNX MusicVAE."""
from __future__ import annotations

import numpy as np
import pluggy
import pytest

from bridge import hookspecs
from bridge.errors import ConfigError, InputError, ModelError
from bridge.events import InputNote, Note, Phrase
from bridge.generator import GeneratorContext, validate
from bridge.midifile import write_notes
from bridge.runtime import ModelBundle, default_models_dir
from plugins.midime import melody, phrases, plugin
from plugins.midime.generator import LEARN_TASK, MidiMeGenerator
from plugins.midime.midime import MidiMe
from plugins.midime.vae import EXPECT, MODEL_NAME

MODEL_DIR = default_models_dir() / MODEL_NAME


@pytest.fixture(scope="module")
def bundle():
    if not (MODEL_DIR / "manifest.json").is_file():
        pytest.skip(f"{MODEL_DIR} is absent: the MusicVAE model is exported by `cmt-bridge export-onnx "
                    f"musicvae-mel2bar` (or point CMT_BRIDGE_MODELS at a folder holding {MODEL_NAME}/)")
    return ModelBundle.load(MODEL_DIR, expect=EXPECT)


class FakeContext(GeneratorContext):
    def __init__(self, played: list[InputNote] | None = None):
        super().__init__()
        self.played = played or []
        self.asked: list[float] = []
        self.progressed: list[tuple[str, float]] = []
        self.reports: list[str] = []
        self.recent_input = self._recent
        self.progress = lambda task, fraction: self.progressed.append((task, fraction))
        self.report = self.reports.append
        self.midi_input = lambda: "keyboard"     # a host started with a MIDI input

    def _recent(self, beats: float) -> list[InputNote]:
        self.asked.append(beats)
        return list(self.played)


def tune(bars: int, offset: float = 0.0, base: int = 60) -> list[InputNote]:
    """A stepwise melody of ``bars`` bars, eighth notes, from host beat ``offset``."""
    shape = (0, 2, 4, 5, 7, 5, 4, 2)
    return [InputNote(base + shape[i % 8] + (i // 16) % 3, 90, offset + i * 0.5, offset + i * 0.5 + 0.45)
            for i in range(bars * 8)]


def make(bundle, played=None) -> tuple[MidiMeGenerator, FakeContext]:
    ctx = FakeContext(played)
    return MidiMeGenerator(models={MODEL_NAME: bundle}, context=ctx), ctx


def test_registered_by_the_plugin_hooks_and_valid():
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    [classes] = pm.hook.cmtbridge_register_generators()
    from plugins.midime.generator16 import MidiMe16Generator

    assert classes == [MidiMeGenerator, MidiMe16Generator]
    validate(MidiMeGenerator, "plugins.midime.plugin")
    validate(MidiMe16Generator, "plugins.midime.plugin")
    d16 = MidiMe16Generator.describe()
    assert d16["models"] == ["musicvae-mel16bar"] and d16["name"] == "midime16"
    assert {a["name"] for a in d16["actions"]} == {a.name for a in MidiMeGenerator.actions}
    d = MidiMeGenerator.describe()
    assert {p["name"] for p in d["params"]} == {"temperature", "variations", "steps", "bars", "seed", "channel",
                                             "phrases", "key", "scale", "register", "style"}
    assert {a["name"] for a in d["actions"]} == {"sample", "interpolate", "learn", "learn_notes", "phrase_a", "phrase_b",
                                                 "capture_a", "capture_b", "personal", "styles", "keep"}
    assert d["models"] == ["musicvae-mel2bar"]


def test_next_phrase_makes_variations_two_bar_phrases_on_the_channel(bundle):
    gen, _ = make(bundle)
    gen.set("variations", 3)
    gen.set("channel", 5)
    gen.prepare()
    first = gen.next_phrase()   # `variations` new samples at once; the host buffers them
    assert len(first) == 3 and not hasattr(gen, "queue")
    more = gen.next_phrase()
    assert len(more) == 3 and [p.meta["tokens"] for p in more] != [p.meta["tokens"] for p in first]
    for p in first + more:
        assert isinstance(p, Phrase) and p.length == 8.0 and p.generator == "midime"
        assert all(n.channel == 4 and 0 <= n.start < 8.0 and n.end <= 8.0 + 1e-9 for n in p.notes)
        assert len(p.meta["tokens"]) == 32
    gen.set("channel", 9)
    notes = [n for p in gen.next_phrase() for n in p.notes]
    assert notes and all(n.channel == 8 for n in notes)  # a new value applies to the next phrase


def test_sample_action_returns_n_phrases_and_seed_repeats(bundle):
    gen, _ = make(bundle)
    gen.set("seed", 1234)
    gen.set("temperature", 1.0)
    a = gen.perform("sample", [6])
    b = gen.perform("sample", [6])
    assert len(a) == 6 and [p.meta["tokens"] for p in a] == [p.meta["tokens"] for p in b]
    assert len({tuple(p.meta["tokens"]) for p in a}) > 1
    assert len(gen.perform("sample", [])) == gen["variations"]
    gen.set("seed", -1)
    c = gen.perform("sample", [6])
    assert [p.meta["tokens"] for p in c] != [p.meta["tokens"] for p in a]


def test_params_are_checked(bundle):
    gen, _ = make(bundle)
    with pytest.raises(ConfigError, match="even"):
        gen.set("bars", 3)
    with pytest.raises(ConfigError, match="range"):
        gen.set("temperature", 2.5)
    with pytest.raises(ConfigError, match="at most 1"):
        gen.perform("sample", [1, 2])
    with pytest.raises(ConfigError, match="no action"):
        gen.perform("dance", [])


def test_interpolate_between_files_and_captures(bundle, tmp_path):
    gen, ctx = make(bundle, played=tune(2, offset=13.0))
    with pytest.raises(InputError, match="needs phrases A and B"):
        gen.perform("interpolate", [])
    a = [Note(n.pitch, n.velocity, n.start, n.end - n.start) for n in phrases.input_notes(tune(2, base=67))]
    write_notes(tmp_path / "a.mid", a)
    assert gen.perform("phrase_a", [str(tmp_path / "a.mid")]) is None
    assert gen.perform("capture_b", []) is None
    assert ctx.asked == [8.0]
    out = gen.perform("interpolate", [4])
    assert len(out) == 4 and all(p.meta["kind"] == "interpolation" for p in out)
    # the end points are the model's free-running reconstructions of A and B (argmax, deterministic)
    vae = gen.vae
    want_a = vae.reconstruct(melody.tokens_from_notes(a))[0]
    assert out[0].meta["tokens"] == want_a.tolist()
    assert out[-1].meta["tokens"] == vae.reconstruct(gen.ends["b"])[0].tolist()
    assert len(gen.perform("interpolate", [])) == gen["steps"]


def test_capture_needs_notes(bundle):
    gen, _ = make(bundle, played=[])
    with pytest.raises(InputError, match="nothing was played"):
        gen.perform("capture_a", [])
    gen2, _ = make(bundle, played=[InputNote(60, 90, 4.0, 5.0)])
    with pytest.raises(InputError, match="at least 2"):
        gen2.perform("capture_a", [])


def test_learn_from_recent_input_reports_progress_and_personalises(bundle):
    gen, ctx = make(bundle, played=tune(8, offset=32.0))
    gen.set("seed", 7)
    out = gen.perform("learn", [8])
    assert ctx.asked == [32.0]
    fractions = [f for task, f in ctx.progressed if task == LEARN_TASK]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions) and len(fractions) > 10
    assert gen.personal is not None and gen.personal.info["windows"] == 7
    assert len(out) == gen["variations"] and all(p.meta["personal"] == "learned live" for p in out)
    assert any("learned 7 two-bar windows" in r for r in ctx.reports)


def test_learn_rejects_too_little_and_polyphonic_input(bundle):
    gen, _ = make(bundle, played=tune(2, offset=4.0))
    with pytest.raises(InputError, match=r"too few bars to learn from .* found 1 two-bar window.* at least 2"):
        gen.perform("learn", [])
    chords = [InputNote(p, 90, b * 4.0, b * 4.0 + 3.9) for b in range(8) for p in (60, 64, 67)]
    gen2, _ = make(bundle, played=chords)
    with pytest.raises(InputError, match="polyphonic: MidiMe needs a single melody line"):
        gen2.perform("learn", [8])
    gen3, _ = make(bundle, played=[])
    with pytest.raises(InputError, match="nothing was played"):
        gen3.perform("learn", [4])


def test_learn_and_capture_without_a_midi_input_say_how_to_start_one(bundle):
    gen, ctx = make(bundle, played=[])
    ctx.midi_input = lambda: None
    for action, args in (("learn", [8]), ("capture_a", [])):
        with pytest.raises(InputError, match="no MIDI input: start it with --virtual-in .* or --midi-in PORT"):
            gen.perform(action, args)
    assert ctx.asked == []     # it did not even look for notes


def test_personal_file_loads_checks_base_and_resets(bundle, tmp_path):
    gen, _ = make(bundle)
    vae = gen.vae
    mu, _ = vae.encode(phrases.melody_windows(phrases.input_notes(tune(6))))
    MidiMe.learn(mu, vae.name, vae.fingerprint, epochs=50).save(tmp_path / "mine.midime")
    MidiMe.learn(mu, "other-model", "0" * 64, epochs=5).save(tmp_path / "other.midime")
    out = gen.perform("personal", [str(tmp_path / "mine.midime")])
    assert gen.personal_name == "mine" and all(p.meta["personal"] == "mine" for p in out)
    with pytest.raises(ModelError, match="learned on other-model"):
        gen.perform("personal", [str(tmp_path / "other.midime")])
    gen.perform("personal", [""])
    assert gen.personal is None
    with pytest.raises(InputError, match="no such MidiMe file"):
        gen.perform("personal", [str(tmp_path / "missing.midime")])


def test_without_model_is_a_model_error():
    gen = MidiMeGenerator(models={}, context=FakeContext())
    with pytest.raises(ModelError, match="needs the model musicvae-mel2bar"):
        gen.next_phrase()


def test_input_notes_align_to_the_bar_and_close_held_notes():
    played = [InputNote(60, 80, 9.0, 9.5), InputNote(62, 80, 9.5, None), InputNote(64, 80, 10.5, 11.0)]
    notes = phrases.input_notes(played, beats_per_bar=4)
    assert [(n.start, n.end) for n in notes] == [(1.0, 1.5), (1.5, 3.0), (2.5, 3.0)]
    assert np.all(phrases.melody_windows([]) == np.zeros((0, 32)))


def test_learn_notes_personalises_on_a_clips_notes_sent_as_json(bundle):
    import json

    gen, ctx = make(bundle, played=[])
    gen.set("seed", 7)
    clip = [[n.pitch, n.start - 32.0, n.end - n.start, n.velocity] for n in tune(8, offset=32.0)]
    out = gen.perform("learn_notes", [json.dumps(clip)])
    assert ctx.asked == []                                  # no MIDI input needed
    assert gen.personal is not None and gen.personal.info["windows"] == 7
    assert len(out) == gen["variations"] and all(p.meta["personal"] == "learned live" for p in out)
    for bad, why in (("nope", "must be JSON"), ('{"a": 1}', "JSON list"), ("[[60, 0, 1]]", "note 0"),
                     ("[[60, -1, 1, 90]]", "note 0"), ("[[200, 0, 1, 90]]", "note 0"),
                     ("[[60, 0, 1, 90]]", "too few bars")):
        with pytest.raises(InputError, match=why):
            gen.perform("learn_notes", [bad])


def test_key_scale_register_and_phrases_shape_what_plays(bundle):
    """Live: variations melodies of `phrases` phrases, every note in the key, centred on the register."""
    from plugins.midime import keys

    gen, _ = make(bundle)
    for name, value in (("key", "D"), ("scale", "minor"), ("register", 60), ("phrases", 3), ("variations", 2),
                        ("seed", 4), ("channel", 5)):
        gen.set(name, value)
    made = gen.next_phrase()
    assert len(made) == 6 and [p.meta["melody"] for p in made] == [0, 0, 0, 1, 1, 1]
    pcs = keys.pitch_classes("D", "minor")
    for m in (made[:3], made[3:]):
        notes = [x for p in m for x in p.notes]
        assert keys.in_scale_share(notes, pcs) == 1.0 and abs(keys.median_pitch(notes) - 60) <= 6
        assert {x.channel for x in notes} == {4}
    assert all(p.meta["key"] == "D" and p.length == 8.0 for p in made)
    assert len(gen.perform("sample", [1])) == 3
    with pytest.raises(ConfigError, match="key must be one of"):
        gen.set("key", "H")


def test_the_menu_of_personal_models_the_style_param_and_keep(bundle, tmp_path, monkeypatch):
    """learn live -> keep NAME (into the user folder's menu) -> styles lists it -> the style param picks it."""
    import json

    from plugins.midime import styles

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    gen, ctx = make(bundle, tune(8))
    sent = []
    ctx.send = lambda message, *args: sent.append((message, *args))
    with pytest.raises(InputError, match="no personal model yet"):
        gen.perform("keep", ["calm"])
    with pytest.raises(ConfigError, match=r"no personal model 'calm' \(the menu: none yet"):
        gen.set("style", "calm")
    assert gen["style"] == ""
    gen.perform("learn", [8])
    gen.perform("keep", ["calm"])
    assert styles.menu() == {"calm": tmp_path / "xdg" / "cmt-bridge" / "midime" / "calm.midime"}
    assert gen["style"] == "calm"
    with pytest.raises(InputError, match="already has 'calm'"):
        gen.perform("keep", ["calm"])
    gen.perform("styles", [])
    menu = json.loads(sent[-1][1])
    assert sent[-1][0] == "style_list" and menu == [{"name": "calm", "windows": 7, "sources": []}]
    fresh, _ = make(bundle)
    fresh.set("style", "calm")                                  # by name, as a preset or OSC sets it
    assert fresh.personal is not None and fresh.personal_name == "calm"
    assert all(p.meta["personal"] == "calm" for p in fresh.next_phrase())
    fresh.set("style", "")
    assert fresh.personal is None
    MidiMe.learn(np.zeros((4, 3)), "some-other-vae", "x" * 64, epochs=3).save(styles.path_for("alien"))
    with pytest.raises(ModelError, match="some-other-vae"):
        fresh.set("style", "alien")
    assert fresh["style"] == "" and fresh.personal is None      # the failed choice leaves what played


def test_each_batch_carries_its_seed_and_setting_it_makes_the_phrase_again(bundle):
    """Seed -1 draws a fresh seed per batch; that seed, set as ``seed``, makes the same phrases (issue 18)."""
    gen, _ = make(bundle)
    gen.set("seed", -1)
    first, second = gen.next_phrase(), gen.next_phrase()
    seeds = {p.meta["seed"] for p in first}
    assert len(seeds) == 1 and len({p.meta["seed"] for p in second}) == 1
    seed = seeds.pop()
    assert 0 <= seed < 2 ** 31 and second[0].meta["seed"] != seed
    liked = [p.notes for p in first]
    gen.set("seed", seed)
    again = gen.next_phrase()
    assert [p.notes for p in again] == liked and again[0].meta["seed"] == seed
    after = gen.next_phrase()                      # a fixed seed goes on N+1, N+2...: new phrases
    assert after[0].meta["seed"] == seed + 1 and [p.notes for p in after] != liked
    gen.set("seed", seed + 1)
    assert [p.notes for p in gen.next_phrase()] == [p.notes for p in after]
    # an action's phrases carry theirs too, and it makes them again
    gen.set("seed", -1)
    made = gen.perform("sample", [2])
    gen.set("seed", made[0].meta["seed"])
    assert [p.notes for p in gen.perform("sample", [2])] == [p.notes for p in made]

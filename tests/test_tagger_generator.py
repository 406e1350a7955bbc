"""The live tagger generator as a unit: a file heard against a fake clock, a fake sounddevice (this machine has
no sound card), what it sends each bar through GeneratorContext.send, and the OSC schema's new out messages.
The fixture model has hand-set weights (plumbing only); the host end to end is in test_tagger_host.py."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from bridge.errors import InputError, PluginError
from bridge.generator import GeneratorContext, validate
from bridge.osc import OscSchema
from bridge.runtime import ModelBundle
from plugins.tagger.caption import SILENCE
from plugins.tagger.generator import TaggerGenerator
from tagger_fixture import LOUD_SENTENCE, QUIET_SENTENCE, RATE, TAGS, make_tagger_folder, tone


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return ModelBundle.load(make_tagger_folder(tmp_path_factory.mktemp("tagger")))


@pytest.fixture
def gen(bundle):
    sent: list[tuple[str, tuple]] = []
    reports: list[str] = []
    ctx = GeneratorContext(beats_per_bar=3, send=lambda m, *a: sent.append((m, a)), report=reports.append)
    g = TaggerGenerator({"tagger": bundle}, ctx)
    g.sent, g.reports = sent, reports
    g.prepare()
    yield g
    g.close()


def loud_then_quiet(tmp_path, seconds: float = 2.0):
    import soundfile

    path = tmp_path / "take.ogg"
    x = np.concatenate([tone(seconds, 44100, 0.5), tone(seconds, 44100, 0.01), np.zeros(2 * 44100, np.float32)])
    soundfile.write(str(path), x, 44100)
    return path


def by_kind(sent, kind):
    return [a for m, a in sent if m == kind]


def test_without_a_source_it_plays_silent_bars_and_sends_nothing(gen):
    phrase = gen.next_phrase()
    assert phrase.notes == () and phrase.length == 3.0
    assert gen.sent == []


def test_a_file_heard_in_time_gives_tags_caption_and_embedding_each_bar(gen, tmp_path):
    phrases = gen.perform("file", [str(loud_then_quiet(tmp_path))])
    assert len(phrases) == 1 and phrases[0].notes == () and "listening to file take.ogg (6.0 s)" in gen.reports[-1]
    clock = Clock()
    gen.source.clock, gen.source.t0 = clock, clock.t
    heard = []
    for second in (1.0, 2.0, 3.5, 5.5):
        clock.t = 100.0 + second
        assert gen.next_phrase().notes == ()
        heard.append(json.loads(by_kind(gen.sent, "tags")[-1][0]))
    captions = [a[0] for a in by_kind(gen.sent, "caption")]
    assert captions == [LOUD_SENTENCE, LOUD_SENTENCE, QUIET_SENTENCE, SILENCE]
    assert [h["seconds"] for h in heard] == [1.0, 2.0, 3.5, 5.5] and [h["bar"] for h in heard] == [1, 2, 3, 4]
    assert heard[0]["tags"]["dynamics"] == ["loud"] and heard[2]["tags"]["dynamics"] == ["soft"]
    assert heard[3]["silent"] and heard[3]["tags"] == {}
    assert set(heard[0]["probabilities"]) == set(TAGS) and heard[0]["source"].startswith("file take.ogg")
    embeddings = by_kind(gen.sent, "embedding")
    assert len(embeddings) == 4 and all(len(e) == 8 and all(isinstance(v, float) for v in e) for e in embeddings)
    assert embeddings[0][0] > 0.2 and embeddings[2][0] < 0.02     # mean |x| of the first chunk, loud then quiet
    clock.t = 100.0 + 6.5                                          # past the end: the last bar, then it stops
    gen.next_phrase()
    assert "ended" in gen.reports[-1] and gen.source is None
    n = len(gen.sent)
    gen.next_phrase()
    assert len(gen.sent) == n


def test_style_threshold_and_embedding_params(gen, tmp_path):
    gen.set("style", "prompt")
    gen.set("send_embedding", False)
    gen.set("threshold", 0.99)
    gen.perform("file", [str(loud_then_quiet(tmp_path))])
    clock = Clock()
    gen.source.clock, gen.source.t0 = clock, clock.t - 1.0
    gen.next_phrase()
    assert by_kind(gen.sent, "caption")[-1][0] == "an image evoking a loud piece, loud"
    assert by_kind(gen.sent, "embedding") == []
    gen.perform("unlisten", [])
    assert gen.source is None and "stopped listening" in gen.reports[-1]


def test_a_looping_file_wraps_around(gen, tmp_path):
    gen.set("loop", True)
    gen.perform("file", [str(loud_then_quiet(tmp_path, 1.0))])   # 4 s: 1 loud, 1 quiet, 2 silent
    clock = Clock()
    gen.source.clock, gen.source.t0 = clock, clock.t - 5.0          # 1 s into the second time round
    gen.next_phrase()
    assert by_kind(gen.sent, "caption")[-1][0] == LOUD_SENTENCE and gen.source is not None
    gen.set("loop", False)                                          # now it ends after this time round
    clock.t += 3.5
    gen.next_phrase()
    assert gen.source is None and "ended" in gen.reports[-1]


def test_bad_files_are_one_line_errors_and_keep_the_current_source(gen, tmp_path):
    gen.perform("file", [str(loud_then_quiet(tmp_path))])
    source = gen.source
    (tmp_path / "notes.txt").write_text("no audio here\n" * 40)
    for bad, expect in ((str(tmp_path / "notes.txt"), "not a readable audio file"),
                        (str(tmp_path / "gone.wav"), "no such audio file"), ("", "file needs the path")):
        with pytest.raises(InputError, match=expect):
            gen.perform("file", [bad])
    assert gen.source is source


def test_an_input_device_through_a_fake_sounddevice(gen, monkeypatch):
    from test_transcription_audio_in import fake_sounddevice

    sd = fake_sounddevice(rate=44100.0)
    monkeypatch.setitem(sys.modules, "sounddevice", sd)
    gen.perform("listen", ["Fake Mic"])
    assert "input device Fake Mic" in gen.reports[-1]
    stream = sd.streams[-1]
    assert stream.started and stream.kw["samplerate"] == 44100.0
    stereo = np.stack([tone(1.5, 44100, 0.5)] * 2, axis=1)
    stream.play(stereo)                    # the PortAudio thread: the callback only queues the blocks
    gen.next_phrase()                      # the worker: drain, resample to the model's 8 kHz, tag
    tags = json.loads(by_kind(gen.sent, "tags")[-1][0])
    assert abs(tags["seconds"] - 1.5) < 0.05 and tags["tags"]["dynamics"] == ["loud"]
    assert by_kind(gen.sent, "caption")[-1][0] == LOUD_SENTENCE
    gen.perform("unlisten", [])
    assert stream.closed
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(InputError, match="needs sounddevice"):
        gen.perform("listen", [""])


def test_the_device_resampler_keeps_time_at_the_models_rate():
    from plugins.tagger.sources import DeviceSource
    from test_transcription_audio_in import fake_sounddevice

    src = DeviceSource("Fake Mic", RATE, 10.0, sd=fake_sounddevice(rate=48000.0)).start()
    for _ in range(47):                                     # 47 blocks of 1024 at 48 kHz = 1.0027 s
        src._callback(np.full((1024, 2), 0.25, np.float32), 1024, None, None)
    got = src.latest(RATE)
    assert abs(src.seconds - 47 * 1024 / 48000) < 2e-3 and len(got) == RATE
    assert np.allclose(got[100:], 0.25, atol=1e-3)
    for _ in range(1000):                                   # nobody asks (the tagger is paused): memory is bounded
        src._callback(np.zeros((1024, 2), np.float32), 1024, None, None)
    assert len(src.blocks) == src.blocks.maxlen == int(10.0 * 48000 / 1024) + 1
    src.stop()


def test_messages_are_declared_validated_and_in_the_osc_schema():
    validate(TaggerGenerator, "plugins.tagger.plugin")
    schema = OscSchema({"tagger": TaggerGenerator}).describe()
    out = {a["address"]: a for a in schema["out"]}
    for m in ("tags", "caption", "embedding"):
        assert out[f"/cmt/tagger/{m}"]["generator"] == "tagger" and out[f"/cmt/tagger/{m}"]["direction"] == "out"
    assert [a["osc_type"] for a in out["/cmt/tagger/tags"]["args"]] == ["s"]
    assert schema["generators"]["tagger"]["messages"][1]["name"] == "caption"
    ins = {a["address"] for a in schema["in"]}
    assert {"/cmt/tagger/file", "/cmt/tagger/listen", "/cmt/tagger/unlisten", "/cmt/tagger/style"} <= ins

    class Bad(TaggerGenerator):
        messages = ("tags",)

    with pytest.raises(PluginError, match="messages must be a tuple of Action"):
        validate(Bad, "x")


def test_the_host_refuses_an_undeclared_message():
    from bridge.host import Host

    class FakeClock:
        beats_per_bar, bpm = 4, 120.0

        def now(self) -> float:
            return 0.0

    got = []
    host = Host({"tagger": TaggerGenerator}, FakeClock(), None, on_send=lambda address, args: got.append((address, args)))
    host._send(TaggerGenerator, "caption", ("a piece",))
    assert got == [("/cmt/tagger/caption", ("a piece",))]
    with pytest.raises(PluginError, match="does not declare"):
        host._send(TaggerGenerator, "shout", ())

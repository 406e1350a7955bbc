"""Host units: workers, lookahead, bar-aligned launch, actions, hot-swap, isolation (recording transport)."""
from __future__ import annotations

import time

import pytest

from bridge.clock import Clock
from bridge.errors import ConfigError
from bridge.host import Host
from bridge.plugins import collect_generators, make_plugin_manager, plugin_of
from fakeplugins import ARP, NEEDSMODEL, RAISER, SLOW
from fakeplugins.doubles import RecordingTransport

BPM = 300.0  # 0.2 s a beat, 0.8 s a bar: tests stay short


def make_host(*plugins, quantize=None, **kw):
    pm = make_plugin_manager(extra=plugins, entry_points=False)
    gens, errors = collect_generators(pm)
    assert errors == []
    clock = Clock(BPM)
    transport = RecordingTransport()
    reported = []
    host = Host(gens, clock, transport, plugin_of=lambda n: plugin_of(pm, n), quantize=quantize,
                on_error=lambda a, r: reported.append((a, r)), **kw)
    load_errors = host.load()
    host.reported = reported
    host.load_errors = load_errors
    assert host.wait_prepared(10)
    return host, clock, transport


def wait_for(cond, timeout=8.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def arp_host():
    host, clock, transport = make_host(ARP, RAISER, SLOW)
    yield host, clock, transport
    host.close()


def test_play_launches_on_a_bar_and_keeps_phrases_contiguous_and_ahead(arp_host):
    host, clock, transport = arp_host
    assert host.slots["arp"].gen.prepared
    launch = host.play("arp")
    assert launch % 4 == 0 and launch >= clock.now() - 0.01
    assert wait_for(lambda: len(transport.schedules("arp")) >= 3)
    starts = [c[2] for c in transport.schedules("arp")]
    assert starts[:3] == [launch, launch + 4, launch + 8]
    # phrases are handed over ahead of the clock: the third was scheduled before its bar began
    assert clock.now() < starts[2] + 0.5
    beats = [b for b, _ in transport.of("arp")]
    assert beats[:8] == [launch + i * 0.5 for i in range(8)]
    assert host.status()["playing"] == ["arp"]


def test_unquantized_launch_plays_at_once():
    host, clock, transport = make_host(ARP, quantize=0)
    try:
        before = clock.now()
        beat = host.play("arp")
        assert wait_for(lambda: transport.schedules("arp"))
        first = transport.schedules("arp")[0][2]
        assert first == beat and before <= first < before + 0.1
    finally:
        host.close()


def test_raising_generator_is_reported_and_stopped_others_keep_playing(arp_host):
    host, clock, transport = arp_host
    host.play("arp")
    host.play("boom")
    assert wait_for(lambda: host.reported)
    address, reason = host.reported[0]
    assert address == "/cmt/boom" and "boom stopped" in reason and "the model exploded" in reason
    status = host.status()["generators"]
    assert not status["boom"]["playing"] and "exploded" in status["boom"]["error"]
    assert any(c[0] == "cancel" and c[1] == "boom" for c in transport.calls)
    n = len(transport.schedules("arp"))
    assert wait_for(lambda: len(transport.schedules("arp")) >= n + 2)
    assert status["arp"]["playing"]


def test_action_phrases_replace_the_queue_from_the_next_bar(arp_host):
    host, clock, transport = arp_host
    host.play("arp")
    assert wait_for(lambda: len(transport.schedules("arp")) >= 2)
    host.perform("arp", "burst", [6])
    assert wait_for(lambda: any(c[0] == "cancel" for c in transport.calls))
    cancel = next(c for c in transport.calls if c[0] == "cancel")
    assert cancel[2] % 4 == 0
    assert wait_for(lambda: any(c[2] == cancel[2] for c in transport.schedules("arp")))
    at_bar = [n for b, n in transport.of("arp") if cancel[2] <= b < cancel[2] + 4]
    assert len(at_bar) == 6 and at_bar[0].pitch == 60 + 24
    assert host.slots["arp"].playing


def test_action_on_a_stopped_generator_starts_it(arp_host):
    host, clock, transport = arp_host
    host.perform("arp", "burst", [])
    assert wait_for(lambda: transport.schedules("arp"))
    assert transport.schedules("arp")[0][3] == 4   # the default count
    with pytest.raises(ConfigError, match="count must be in range"):
        host.perform("arp", "burst", [99])
    with pytest.raises(ConfigError, match="no action"):
        host.perform("arp", "nope", [])


def test_params_validate_now_and_apply_before_the_next_phrase(arp_host):
    host, clock, transport = arp_host
    with pytest.raises(ConfigError, match="root must be in range"):
        host.set_param("arp", "root", 200)
    with pytest.raises(ConfigError, match="no parameter"):
        host.set_param("arp", "bogus", 1)
    with pytest.raises(ConfigError, match="no generator"):
        host.set_param("nobody", "root", 1)
    host.set_param("arp", "root", 48)
    host.play("arp")
    assert wait_for(lambda: transport.of("arp"))
    assert transport.of("arp")[0][1].pitch == 48   # the cue made before the change was dropped
    assert host.status()["generators"]["arp"]["params"]["root"] == 48


def test_switch_hands_over_at_the_launch_bar(arp_host):
    host, clock, transport = arp_host
    host.play("arp")
    assert wait_for(lambda: len(transport.schedules("arp")) >= 2)
    beat = host.play("slow", replace="arp")
    assert beat % 4 == 0
    assert wait_for(lambda: transport.schedules("slow"))
    assert transport.schedules("slow")[0][2] == beat
    assert wait_for(lambda: clock.now() > beat + 5)
    assert all(b < beat for b, _ in transport.of("arp"))
    assert not host.slots["arp"].playing and host.slots["slow"].playing


def test_hot_swap_reload_keeps_playing_without_gaps(arp_host):
    host, clock, transport = arp_host
    host.set_param("arp", "root", 50)
    host.play("arp")
    assert wait_for(lambda: len(transport.schedules("arp")) >= 2)
    old = host.slots["arp"].gen
    host.reload("arp")
    assert wait_for(lambda: host.slots["arp"].gen is not old)
    assert old.prepared and host.slots["arp"].gen["root"] == 50     # values carried over
    n = len(transport.schedules("arp"))
    assert wait_for(lambda: len(transport.schedules("arp")) >= n + 2)
    beats = sorted({b for b, _ in transport.of("arp")})
    gaps = [b2 - b1 for b1, b2 in zip(beats, beats[1:])]
    assert max(gaps) == 0.5 and min(gaps) == 0.5    # no hole, no double notes at the swap bar
    assert host.slots["arp"].playing


def test_stop_drops_the_queue_and_nothing_more_is_scheduled(arp_host):
    host, clock, transport = arp_host
    host.play("arp")
    assert wait_for(lambda: transport.schedules("arp"))
    host.stop("arp")
    assert ("stop", "arp") in transport.calls
    n = len(transport.schedules("arp"))
    time.sleep(1.0)
    assert len(transport.schedules("arp")) == n and transport.of("arp") == []
    host.play("arp")
    assert wait_for(lambda: len(transport.schedules("arp")) > n)


def test_slow_inference_never_blocks_commands(arp_host):
    host, clock, transport = arp_host
    host.set_param("slow", "delay", 1.0)
    host.play("slow")
    time.sleep(0.1)
    t = time.monotonic()
    host.set_param("slow", "channel", 5)
    host.play("arp")
    host.status()
    assert time.monotonic() - t < 0.2
    assert wait_for(lambda: transport.schedules("arp"))


def test_missing_model_names_the_plugin_and_others_load():
    host, clock, transport = make_host(NEEDSMODEL, ARP)
    try:
        assert host.names == ["arp"]
        assert len(host.load_errors) == 1
        assert NEEDSMODEL in host.load_errors[0] and "needsmodel" in host.load_errors[0]
        assert "no-such-model" in host.load_errors[0]
    finally:
        host.close()


def test_bad_defaults_are_a_config_error():
    pm = make_plugin_manager(extra=[ARP], entry_points=False)
    gens, _ = collect_generators(pm)
    host = Host(gens, Clock(BPM), RecordingTransport(), defaults={"arp": {"root": 500}})
    with pytest.raises(ConfigError, match="defaults for arp: root must be in range"):
        host.load()
    host.close()


VOICED = """
import importlib.util
from bridge import hookimpl

spec = importlib.util.spec_from_file_location("arp_for_voices", {arp!r})
arp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(arp)


class Voiced(arp.Arp):
    name = "voiced"
    voices = {voices}


@hookimpl
def cmtbridge_register_generators():
    return [Voiced]
"""


def voiced_plugin(tmp_path, voices) -> str:
    path = tmp_path / "voiced.py"
    path.write_text(VOICED.format(arp=ARP, voices=voices))
    return str(path)


def test_voices_reach_the_transport_once_before_the_first_notes_and_again_after_a_swap(tmp_path):
    host, clock, transport = make_host(voiced_plugin(tmp_path, {0: ("lead", 73), 9: ("drums", None)}))
    try:
        host.play("voiced")
        assert wait_for(lambda: len(transport.schedules("voiced")) >= 3)
        mine = [c for c in transport.calls if c[1] == "voiced" and c[0] in ("voices", "schedule")]
        assert mine[0] == ("voices", "voiced", {0: ("lead", 73), 9: ("drums", None)})
        assert [c[0] for c in mine].count("voices") == 1            # once, not per phrase
        old = host.slots["voiced"].gen
        host.reload("voiced")
        assert wait_for(lambda: host.slots["voiced"].gen is not old)
        n = len(transport.schedules("voiced"))
        assert wait_for(lambda: len(transport.schedules("voiced")) >= n + 2)
        assert [c[0] for c in transport.calls if c[1] == "voiced"].count("voices") == 2  # the new instance's
    finally:
        host.close()
    quiet, clock, transport = make_host(ARP)         # no voices declared: nothing sent
    try:
        quiet.play("arp")
        assert wait_for(lambda: len(transport.schedules("arp")) >= 2)
        assert not [c for c in transport.calls if c[0] == "voices"]
    finally:
        quiet.close()


@pytest.mark.parametrize("voices", ['{16: ("x", 1)}', '{0: ("x", 128)}', '{0: "lead"}', '{"0": ("x", None)}',
                                    '[(0, ("x", 1))]'])
def test_a_generator_with_bad_voices_is_refused_with_a_reason(tmp_path, voices):
    pm = make_plugin_manager(extra=(voiced_plugin(tmp_path, voices),), entry_points=False)
    gens, errors = collect_generators(pm)
    assert "voiced" not in gens
    assert len(errors) == 1 and "voices" in str(errors[0]), errors


BATCH = '''
from bridge.api import Action, Generator, Note, Param, Phrase, hookimpl


class Batch(Generator):
    name = "batch"
    params = (Param("pitch", int, 60, 0, 120),)
    actions = (Action("shout", (Param("times", int, 1, 1, 8),)),)
    calls = []

    def next_phrase(self):
        Batch.calls.append(("next", self["pitch"]))
        return [Phrase.of([Note(self["pitch"] + i, 90, 0.0, 1.0)], 4.0, self.name, i=i) for i in range(3)]

    def action_shout(self, times):
        Batch.calls.append(("shout", times, type(times).__name__))


@hookimpl
def cmtbridge_register_generators():
    return [Batch]
'''


def test_the_host_buffers_a_batch_and_drops_it_when_a_parameter_changes(tmp_path):
    path = tmp_path / "batch.py"
    path.write_text(BATCH)
    host, clock, transport = make_host(str(path))
    try:
        cls = host.classes["batch"]
        host.play("batch")
        assert wait_for(lambda: len(transport.schedules("batch")) >= 4)
        pitches = [n.pitch for _, n in transport.of("batch")][:4]
        assert pitches == [60, 61, 62, 60]                       # the batch in order, then a new one
        assert cls.calls.count(("next", 60)) >= 2
        host.set_param("batch", "pitch", 100)
        assert wait_for(lambda: any(n.pitch >= 100 for _, n in transport.of("batch")))
        after = [n.pitch for _, n in transport.of("batch")]
        first_new = next(i for i, p in enumerate(after) if p >= 100)
        assert after[first_new] == 100 and all(p >= 100 for p in after[first_new:])  # the old batch's rest dropped
        host.perform("batch", "shout", ["3"])                    # bound once, here: "3" -> 3
        assert wait_for(lambda: ("shout", 3, "int") in cls.calls)
        host.perform("batch", "shout", [5], checked=True)       # the OSC schema bound it already
        assert wait_for(lambda: ("shout", 5, "int") in cls.calls)
        with pytest.raises(ConfigError, match="times must be in range"):
            host.perform("batch", "shout", [9])
    finally:
        host.close()


def test_an_action_without_its_method_is_refused_at_start_up(tmp_path):
    path = tmp_path / "nomethod.py"
    path.write_text(BATCH.replace("def action_shout", "def shout"))
    gens, errors = collect_generators(make_plugin_manager(extra=(str(path),), entry_points=False))
    assert "batch" not in gens and len(errors) == 1 and "no method action_shout()" in errors[0]


def test_bundle_finds_a_loaded_model_or_says_which_is_missing():
    from bridge.errors import ModelError
    from bridge.generator import Generator

    class Needs(Generator):
        name = "needs"
        models = ("some-model",)

    with pytest.raises(ModelError, match="needs needs the model some-model"):
        Needs().bundle()
    marker = object()
    assert Needs(models={"some-model": marker}).bundle() is marker
    assert Needs(models={"some-model": marker}).bundle("some-model") is marker

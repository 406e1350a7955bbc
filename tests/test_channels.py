"""Channels: distinct defaults, settable per generator (cmt per part), a warning when two playing
generators share one (start, /cmt/play, a channel change), shown in the ready line and /cmt/status.

The end-to-end test runs ``cmt-bridge run`` with the shipped generators and reads its OSC replies
with oscdump (an independent receiver)."""
from __future__ import annotations

import json
import shutil
import time

import pytest

from bridge.generator import Generator, Param
from bridge.host import shared_channels
from fakeplugins.running import BridgeRun
from plugins.cmt.generator import CMTGenerator
from plugins.cmt.params import DEFAULT_CHANNELS, parse_channels, parse_parts
from plugins.midime.generator import MidiMeGenerator
from plugins.transcription.generator import TranscriptionGenerator


def _statuses(osc) -> list[dict]:
    """Every whole /cmt/status JSON oscdump has printed so far (in quotes, the JSON's own quotes unescaped:
    a line counts once oscdump has written all of it)."""
    out = []
    for line in osc.path.read_text().splitlines():
        if " /cmt/status s " in line:
            try:
                out.append(json.loads(line.split(" /cmt/status s ", 1)[1].strip()[1:-1]))
            except ValueError:
                pass
    return out


def status_reply(run, osc, ready=lambda status: True, timeout: float = 10.0) -> dict:
    """Ask for /cmt/status until a new reply satisfies ``ready``; that reply. Parameter changes reach a
    generator asynchronously, so a test that depends on one waits for the status to show it."""
    seen = len(_statuses(osc))
    end = time.monotonic() + timeout
    while True:
        run.oscsend("/cmt/status")
        for _ in range(10):
            new = _statuses(osc)[seen:]
            if any(ready(st) for st in new):
                return next(st for st in reversed(new) if ready(st))
            time.sleep(0.05)
        if time.monotonic() > end:
            raise AssertionError(f"no /cmt/status reply showing the change in {timeout} s")


def test_the_shipped_generators_start_on_distinct_channels():
    used: dict[int, str] = {}
    for cls in (MidiMeGenerator, TranscriptionGenerator, CMTGenerator):
        gen = cls()
        for part, ch in gen.channels().items():
            assert ch not in used, f"{cls.name} {part} and {used[ch]} both default to channel {ch}"
            used[ch] = f"{cls.name} {part}"
    assert used[1] == "midime midime" and used[2] == "transcription transcription" and used[10] == "cmt drums"


def test_cmt_channels_and_parts_are_parameters():
    gen = CMTGenerator()
    assert gen.channels() == DEFAULT_CHANNELS
    gen.set("lead_channel", 11)
    gen.set("bass_channel", 12)
    for part in ("strings", "piano", "guitar"):
        gen.set(f"{part}_channel", 0)                       # off
    assert gen.channels() == {"lead": 11, "bass": 12, "drums": 10}
    assert gen.voice_map() == {10: ("lead", 73), 11: ("bass", 32), 9: ("drums", 0)}
    assert parse_parts("all") == parse_parts("") == tuple(DEFAULT_CHANNELS)
    for bad, match in (("lead=17", "1..16"), ("flute=3", "PART=CHANNEL"), ("lead", "PART=CHANNEL"), ("lead=x", "number")):
        with pytest.raises(Exception, match=match):
            parse_channels(bad)
    assert parse_channels("lead=11, bass=12") == {**DEFAULT_CHANNELS, "lead": 11, "bass": 12}   # --channels
    with pytest.raises(Exception, match="no part 'banjo'"):
        parse_parts("lead,banjo")


def test_a_shared_channel_is_one_line_naming_both_and_the_fix():
    lines = shared_channels({"midime": {"midime": 1}, "cmt": {"lead": 1, "bass": 6}, "arp": {"arp": 6}},
                            {"midime": "/cmt/midime/channel", "cmt": "/cmt/cmt/{part}_channel"})
    assert lines == [
        "MIDI channel 1 is shared by midime and cmt lead: one's note-off cuts the other's notes "
        "(set /cmt/cmt/lead_channel or /cmt/midime/channel)",
        "MIDI channel 6 is shared by cmt bass and arp: one's note-off cuts the other's notes (set /cmt/cmt/bass_channel)",
    ]
    assert shared_channels({"a": {"a": 1}, "b": {"b": 2}}) == []


def test_a_generator_with_a_channel_param_shows_it():
    class Solo(Generator):
        name = "solo"
        params = (Param("channel", int, 5, 1, 16),)

        def next_phrase(self):
            raise NotImplementedError

    class Silent(Generator):
        name = "silent"

        def next_phrase(self):
            raise NotImplementedError

    assert Solo().channels() == {"solo": 5} and Silent().channels() == {}


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools not installed")
def test_a_shared_channel_is_warned_at_start_on_play_and_on_change(osc_receiver):
    osc = osc_receiver()
    run = BridgeRun("--api", "none", "--play", "midime", "--play", "transcription", "--set", "transcription.channel=1",
                    "--tempo", "200", disable="tagger", reply_port=osc.port)
    try:
        run.wait_ready(90)
        ready = next(line for line in run.lines if line.startswith("cmt-bridge ready:"))
        assert "midime (ch 1)" in ready and "transcription (ch 1)" in ready, ready
        assert "cmt (lead 3, strings 4, piano 5, bass 6, guitar 7, drums 10)" in ready, ready
        assert "no MIDI in (--virtual-in)" in ready, ready
        shared = "MIDI channel 1 is shared by midime and transcription"
        got = osc.wait_for(lambda m: any(x.address == "/cmt/error" and shared in x.args[1] for x in m), 10)
        warned = [x for x in got if x.address == "/cmt/error" and shared in x.args[1]]
        assert len(warned) == 1 and warned[0].args[0] == "/cmt/play" and warned[0].args[1].startswith("warning: ")
        assert any(shared in line and "WARNING" in line for line in run.lines), run.output     # the log line

        run.oscsend("/cmt/transcription/channel", "i", 2)
        run.oscsend("/cmt/cmt/lead_channel", "i", 2)          # cmt is not playing yet: no warning
        status_reply(run, osc, lambda st: st["generators"]["cmt"]["channels"]["lead"] == 2
                     and st["generators"]["transcription"]["params"]["channel"] == 2)
        run.oscsend("/cmt/play", "s", "cmt")
        clash = "MIDI channel 2 is shared by cmt lead and transcription"
        got = osc.wait_for(lambda m: any(x.address == "/cmt/error" and clash in x.args[1] for x in m), 15)
        err = next(x for x in got if x.address == "/cmt/error" and clash in x.args[1])
        assert err.args[0] == "/cmt/play" and "/cmt/cmt/lead_channel" in err.args[1]

        run.oscsend("/cmt/cmt/lead_channel", "i", 1)          # a change while playing is checked too
        clash = "MIDI channel 1 is shared by cmt lead and midime"
        got = osc.wait_for(lambda m: any(x.address == "/cmt/error" and clash in x.args[1] for x in m), 15)
        assert any(x.args[0] == "/cmt/cmt/lead_channel" for x in got if x.address == "/cmt/error" and clash in x.args[1])

        status = status_reply(run, osc, lambda st: st["generators"]["cmt"]["channels"]["lead"] == 1)
        gens = status["generators"]
        # a generator on its own channel parameter: the parameter says it (the reply stays short for Pd)
        assert gens["midime"]["params"]["channel"] == 1 and gens["transcription"]["params"]["channel"] == 2
        assert gens["cmt"]["channels"]["lead"] == 1 and gens["cmt"]["channels"]["drums"] == 10
        assert isinstance(gens["cmt"]["seed"], int) and gens["cmt"]["seed"] >= 0      # seed -1 drew one
    finally:
        run.close()

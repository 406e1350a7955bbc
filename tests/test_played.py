"""bridge.played: the host's memory of what it plays follows the transport's own rules (cancel drops queued
notes, stop and panic also end sounding ones), and the tap passes every call through unchanged."""
from __future__ import annotations

from bridge.events import Note
from bridge.played import KEEP_BEATS, PlayedNotes


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.port_name = "fake"

    def __getattr__(self, name):
        return lambda *a: self.calls.append((name, *a))


class Clock:
    beat = 0.0

    def __call__(self) -> float:
        return self.beat


def setup():
    clock, transport = Clock(), Transport()
    played = PlayedNotes(clock)
    return clock, transport, played, played.tap(transport)


def bar(channel: int = 0) -> list[Note]:
    return [Note(60 + i, 90, float(i), 1.0, channel) for i in range(4)]


def test_schedule_is_remembered_in_absolute_beats_and_passed_on():
    clock, transport, played, tap = setup()
    tap.voices("cmt", {2: ("strings", 48)})
    tap.schedule("cmt", bar(2), 8.0)
    tap.schedule("midime", bar(), 8.0)
    assert [c[0] for c in transport.calls] == ["voices", "schedule", "schedule"]
    assert tap.port_name == "fake"                      # everything else goes straight through
    got = played.between(9.5, 10.5)
    assert [(n.generator, n.start, n.pitch, n.program) for n in got] == [
        ("midime", 9.0, 61, None), ("cmt", 9.0, 61, 48), ("midime", 10.0, 62, None), ("cmt", 10.0, 62, 48)]
    assert played.between(0.0, 8.0) == [] and len(played.between(0.0, 100.0)) == 8


def test_cancel_drops_queued_notes_and_lets_sounding_ones_end_on_time():
    clock, transport, played, tap = setup()
    tap.schedule("midime", bar(), 0.0)
    tap.schedule("cmt", bar(), 0.0)
    clock.beat = 1.5
    tap.cancel("midime", 2.0)
    assert ("cancel", "midime", 2.0) in transport.calls
    mine = [n for n in played.between(0.0, 10.0) if n.generator == "midime"]
    assert [(n.start, n.end) for n in mine] == [(0.0, 1.0), (1.0, 2.0)]
    assert len([n for n in played.between(0.0, 10.0) if n.generator == "cmt"]) == 4


def test_stop_and_panic_end_sounding_notes_now():
    clock, transport, played, tap = setup()
    tap.schedule("midime", bar(), 0.0)
    tap.schedule("cmt", bar(), 0.0)
    clock.beat = 1.5
    tap.stop("midime")
    mine = [n for n in played.between(0.0, 10.0) if n.generator == "midime"]
    assert [(n.start, n.end) for n in mine] == [(0.0, 1.0), (1.0, 1.5)]
    clock.beat = 2.25
    tap.panic()
    assert [(n.generator, n.start, n.end) for n in played.between(2.0, 10.0)] == [("cmt", 2.0, 2.25)]
    assert [c[0] for c in transport.calls][-2:] == ["stop", "panic"]


def test_old_notes_are_forgotten():
    clock, transport, played, tap = setup()
    tap.schedule("midime", bar(), 0.0)
    clock.beat = KEEP_BEATS + 10
    tap.schedule("midime", bar(), clock.beat)
    assert len(played.between(-1.0, 1e9)) == 4

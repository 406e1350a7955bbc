"""MIDI input: validation, notes history in beats, CC, clock follow (JACK peers in other processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.clock import Clock
from bridge.midi_in import ClockFollower, MidiInput, valid_message

PEERS = Path(__file__).resolve().parent / "peers.py"


@pytest.mark.parametrize("message, ok", [
    ([0x90, 60, 100], True), ([0x80, 60, 0], True), ([0xB3, 7, 127], True), ([0xC0, 5], True),
    ([0xF8], True), ([0xFA], True), ([0xF2, 1, 0], True),
    ([], False), ([60, 100], False), ([0x90, 60], False), ([0x90, 60, 100, 1], False),
    ([0x90, 200, 100], False), ([0xC0, 5, 1], False), ([0xF0, 1, 2, 0xF7], False),
])
def test_valid_message(message, ok):
    assert valid_message(message) is ok


def test_clock_follower_tempo_phase_and_tempo_jump():
    clock = Clock(bpm=120)
    follower = ClockFollower(clock)
    follower.start()
    t = time.monotonic() + 0.01
    for bpm, beats in ((90.0, 4), (150.0, 4)):
        for _ in range(int(beats * 24)):
            follower.tick(t)
            t += 60.0 / (bpm * 24)
        assert clock.bpm == pytest.approx(bpm, rel=0.01)
    # Start put master tick 0 on a host bar line; 8 beats later the host is 8 beats on
    assert follower.origin % clock.beats_per_bar == pytest.approx(0)
    assert clock.beat_at(t) - follower.origin == pytest.approx(8.0, abs=0.02)


def test_clock_follower_ignores_out_of_range_tempo():
    clock = Clock(bpm=120)
    follower = ClockFollower(clock)
    t = 0.0
    for _ in range(48):
        follower.tick(t)
        t += 60.0 / (400 * 24)
    assert clock.bpm == 120


@pytest.fixture
def sender(jack_server):
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, f"send{os.getpid()}")
    out.open_virtual_port("out")
    yield out, f"send{os.getpid()}:out"
    out.close_port()
    del out


def test_notes_and_cc_arrive_with_content_and_beats(jack_server, sender):
    out, out_port = sender
    clock = Clock(bpm=120)
    ccs, seen = [], []
    with MidiInput(clock, virtual_name=f"in{os.getpid()}", api="jack", on_cc=lambda *a: ccs.append(a),
                   on_note=seen.append) as midi_in:
        assert midi_in.name == f"in{os.getpid()}:midi_in"
        jack_server.connect(out_port, midi_in.name)
        time.sleep(0.3)
        begin = clock.now()
        chord = [(0x90, 60, 100), (0x90, 64, 90), (0x90, 67, 80)]
        for msg in chord:
            out.send_message(list(msg))
        time.sleep(0.25)
        for pitch in (60, 64, 67):
            out.send_message([0x80, pitch, 0])
        out.send_message([0x99, 36, 127])       # drum channel 10, held
        out.send_message([0xB2, 74, 33])
        out.send_message([0xB2, 74, 34])
        deadline = time.monotonic() + 5
        while len(ccs) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        notes = midi_in.history(8.0)
        assert sorted((n.channel, n.pitch, n.velocity) for n in notes) == [(0, 60, 100), (0, 64, 90), (0, 67, 80),
                                                                          (9, 36, 127)]
        for n in notes:
            assert n.start >= begin - 0.01
            if n.pitch == 36:
                assert n.end is None                      # still held
            else:
                assert n.end - n.start == pytest.approx(0.5, abs=0.25)  # 0.25 s at 120 BPM
        assert ccs == [(2, 74, 33), (2, 74, 34)]
        assert [n.end is None for n in seen].count(True) == 4  # four note-ons, then three note-offs
        time.sleep(1.0)
        assert [n.pitch for n in midi_in.history(1.0)] == [36]  # older notes fell out, the held one stays
        assert midi_in.invalid == 0


def test_follows_an_external_clock_at_two_tempos(jack_server):
    clock = Clock(bpm=120)
    transport_events = []
    samples: list[tuple[float, float]] = []
    with MidiInput(clock, virtual_name=f"clk{os.getpid()}", api="jack", follow_clock=True,
                   on_transport=transport_events.append) as midi_in:
        time.sleep(0.3)
        peer = subprocess.Popen([sys.executable, str(PEERS), "clock", midi_in.name, "100:4", "140:4"],
                                stdout=subprocess.PIPE, text=True, env=jack_server.env)
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                samples.append((time.monotonic(), clock.bpm))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            out, _ = peer.communicate(timeout=60)
        finally:
            stop.set()
            watcher.join()
        ticks = json.loads(out)
        time.sleep(0.3)
    assert transport_events == ["start", "stop"]
    change = ticks[int(4 * 100 / 60 * 24)]  # first tick at 140 BPM
    first = [bpm for t, bpm in samples if change - 1.5 < t < change]
    second = [bpm for t, bpm in samples if ticks[-1] - 1.5 < t < ticks[-1]]
    assert first and second
    assert sorted(first)[len(first) // 2] == pytest.approx(100, rel=0.03)
    assert sorted(second)[len(second) // 2] == pytest.approx(140, rel=0.03)
    # phase: the master's tick k sits on host beat (bar line) + k/24
    offsets = [(clock.beat_at(t) - k / 24) % 4 for k, t in enumerate(ticks[-24:], start=len(ticks) - 24)]
    for off in offsets:
        # within a quarter beat: the fit times ticks when they arrive, and a loaded machine delivers JACK MIDI
        # late by tens of ms (a wrong bar origin would be off by whole beats)
        assert min(off, 4 - off) < 0.25, offsets


def test_clock_follower_continue_and_song_position_keep_the_masters_place():
    clock = Clock(bpm=120)
    follower = ClockFollower(clock)
    follower.start()
    t, interval = time.monotonic(), 60.0 / (120 * 24)
    for _ in range(48):                      # two beats
        follower.tick(t)
        t += interval
    origin = follower.origin
    follower.stop()
    t += 1.0                                 # the master pauses a second
    follower.resume()                        # Continue: counting goes on from beat 2
    for _ in range(48):
        follower.tick(t)
        t += interval
    assert follower.origin == origin and follower.position == 96
    assert clock.beat_at(t - interval) - origin == pytest.approx(95 / 24, abs=0.02)
    follower.song_position(16)               # SPP: 16 sixteenths = beat 4 of the song
    assert follower.position == 96

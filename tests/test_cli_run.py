"""End to end: ``cmt-bridge run`` in its own process, on a real JACK server, controlled over OSC.

Receivers are independent processes: jack_midi_dump (MIDI), oscdump (OSC out).
"""
from __future__ import annotations

import json
import shutil
import signal
import socket
import time

import mido
import pytest
from pythonosc.osc_packet import OscPacket

import peers
from fakeplugins import ARP, RAISER, SLOW
from fakeplugins.running import BridgeRun, note_pairs

pytestmark = pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools not installed")


@pytest.fixture
def bridge(jack_server):
    runs = []

    def start(*args, plugins=(ARP,), **kw):
        run = BridgeRun(*args, plugins=plugins, env=jack_server.env, **kw)
        runs.append(run)
        return run.wait_ready()

    yield start
    for run in runs:
        run.close()


def assert_no_stuck_notes(messages):
    pairs, sounding = note_pairs(messages)
    assert sounding == {}, f"notes left sounding at the receiver: {sounding}"
    for on, off in pairs:
        assert off.frames >= on.frames
    return pairs


def recorded_notes(path):
    mid = mido.MidiFile(path)
    ons = offs = 0
    for track in mid.tracks:
        for msg in track:
            if msg.type == "note_on" and msg.velocity > 0:
                ons += 1
            elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
                offs += 1
    return ons, offs


def test_play_into_jack_with_osc_notes_and_a_valid_recording(bridge, midi_receiver, osc_receiver):
    osc = osc_receiver()
    run = bridge("--play", "arp", "--tempo", "240", reply_port=osc.port)
    dump = midi_receiver(run.port_name)
    msgs = dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 12, timeout=20)
    assert run.stop() == 0, run.output
    msgs = dump.messages()
    pairs = assert_no_stuck_notes(msgs)
    assert len(pairs) >= 12
    assert {on.channel for on, _ in pairs} == {0}
    assert [on.data[1] for on, _ in pairs[:4]] in ([60, 64, 67, 72], [64, 67, 72, 60], [67, 72, 60, 64],
                                                    [72, 60, 64, 67])
    notes = osc.messages("/cmt/note")
    assert notes and notes[0].args[0] == "arp" and notes[0].args[1] in (60, 64, 67, 72)
    assert osc.messages("/cmt/beat")
    ons, offs = recorded_notes(run.record)
    assert ons >= 12 and ons == offs
    assert "cmt-bridge: recorded" in run.output


def test_oscsend_controls_and_every_bad_message_is_answered(bridge, midi_receiver, osc_receiver):
    osc = osc_receiver()
    run = bridge("--tempo", "200", reply_port=osc.port)
    dump = midi_receiver(run.port_name)
    run.oscsend("/cmt/arp/root", "i", 48)
    run.oscsend("/cmt/play", "s", "arp")
    msgs = dump.wait_for(lambda m: any(x.is_note_on for x in m), timeout=15)
    assert msgs and next(x for x in msgs if x.is_note_on).data[1] in (48, 52, 55, 60)
    bad = [
        (("/cmt/tempo", "s", "fast"), "/cmt/tempo", "bpm must be a float"),
        (("/cmt/tempo", "f", 999.0), "/cmt/tempo", "in range 20.0..300.0"),
        (("/cmt/arp/root", "i", 1000), "/cmt/arp/root", "root must be in range 24..96"),
        (("/cmt/nowhere", "i", 1), "/cmt/nowhere", "unknown address"),
        (("/cmt/arp/bogus", "f", 1.0), "/cmt/arp/bogus", "has no parameter or action"),
        (("/cmt/play",), "/cmt/play", "takes 1..2 argument(s)"),
        (("/cmt/play", "s", "ghost"), "/cmt/play", "must be one of arp"),
        (("/cmt/arp/burst", "ii", 1, 2), "/cmt/arp/burst", "takes 0..1"),
    ]
    for args, _, _ in bad:
        run.oscsend(*args)
    run.send_raw(b"\x00\x01 not osc at all")
    run.send_raw(b"/cmt/tempo\0\0,[f\0" + bytes(4))
    errors = osc.wait_for(lambda m: len([x for x in m if x.address == "/cmt/error"]) >= len(bad) + 2, 15)
    errors = [m.args for m in errors if m.address == "/cmt/error"]
    for _, address, reason in bad:
        assert any(e[0] == address and reason in e[1] for e in errors), (address, reason, errors)
    assert sum("malformed" in e[1] for e in errors) == 2
    # still alive and still playing after all that
    n = sum(x.is_note_on for x in dump.messages())
    assert dump.wait_for(lambda m: sum(x.is_note_on for x in m) > n + 4, 10)
    run.oscsend("/cmt/stop")
    time.sleep(1.0)
    assert run.stop() == 0
    assert_no_stuck_notes(dump.messages())


def test_status_reply_is_json_via_python_osc(bridge):
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    reply.settimeout(10)
    try:
        run = bridge("--play", "arp", "--tempo", "150", "--set", "arp.velocity=77",
                     reply_port=reply.getsockname()[1])
        run.send("/cmt/tempo", 133.0)
        time.sleep(0.3)
        run.send("/cmt/status")
        while True:
            m = OscPacket(reply.recv(65536)).messages[0].message
            if m.address == "/cmt/status":
                break
        status = json.loads(m.params[0])
        assert status["tempo"] == 133.0
        assert status["playing"] == ["arp"]
        assert status["generators"]["arp"]["params"]["velocity"] == 77
    finally:
        reply.close()


def test_a_plugin_raising_mid_phrase_is_isolated(bridge, midi_receiver, osc_receiver):
    osc = osc_receiver()
    run = bridge("--play", "boom", "--play", "arp", "--tempo", "240", plugins=(ARP, RAISER), reply_port=osc.port)
    dump = midi_receiver(run.port_name)
    errors = osc.wait_for(lambda m: any(x.address == "/cmt/error" for x in m), 20)
    err = next(x for x in errors if x.address == "/cmt/error")
    assert err.args[0] == "/cmt/boom" and "boom stopped" in err.args[1] and "exploded" in err.args[1]
    n = sum(x.is_note_on and x.channel == 0 for x in dump.messages())
    msgs = dump.wait_for(lambda m: sum(x.is_note_on and x.channel == 0 for x in m) >= n + 8, 15)
    assert sum(x.is_note_on and x.channel == 0 for x in msgs) >= n + 8     # arp keeps playing
    assert run.stop() == 0
    msgs = dump.messages()
    assert_no_stuck_notes(msgs)
    ons, offs = recorded_notes(run.record)
    assert ons == offs > 0
    # boom played before failing: the recording has it (the receiver may connect after boom's one phrase)
    boom = [m for t in mido.MidiFile(run.record).tracks for m in t if m.type == "note_on" and m.velocity > 0
            and m.channel == 1]
    assert boom


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_while_notes_sound_exits_cleanly(bridge, midi_receiver, sig):
    # boom plays one 3.5-beat note a bar: wait for a full note, then for the next one to sound
    run = bridge("--play", "boom", "--tempo", "120", "--set", "boom.ok_phrases=50", plugins=(RAISER,))
    dump = midi_receiver(run.port_name)

    def sounding_after_a_full_note(msgs):
        pairs, sounding = note_pairs(msgs)
        return len(pairs) >= 1 and sounding == {(1, 50): 1}

    msgs = dump.wait_for(sounding_after_a_full_note, 20)
    assert sounding_after_a_full_note(msgs), msgs
    time.sleep(0.2)
    assert run.stop(sig) == 0, run.output
    msgs = dump.wait_for(lambda m: note_pairs(m)[1] == {}, 5)
    assert_no_stuck_notes(msgs)
    ons, offs = recorded_notes(run.record)
    assert ons == offs >= 2
    assert "Traceback" not in run.output


def test_hot_swap_and_reload_keep_time_without_hanging_notes(bridge, midi_receiver, osc_receiver, jack_server):
    peers.retry_on_lost_periods(jack_server, lambda: hot_swap_and_reload(bridge, midi_receiver, osc_receiver))


def hot_swap_and_reload(bridge, midi_receiver, osc_receiver):
    osc = osc_receiver()
    run = bridge("--play", "arp", "--tempo", "240", "--set", "slow.delay=0.05", "--set", "slow.warmup=0",
                 plugins=(ARP, SLOW), reply_port=osc.port)
    dump = midi_receiver(run.port_name)
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 6, 15)
    run.send("/cmt/play", "slow", "arp")           # switch at the next bar
    msgs = dump.wait_for(lambda m: sum(x.is_note_on and x.channel == 2 for x in m) >= 6, 15)
    run.send("/cmt/reload", "slow")                # reload its model(s) while it plays
    n = sum(x.is_note_on and x.channel == 2 for x in dump.messages())
    msgs = dump.wait_for(lambda m: sum(x.is_note_on and x.channel == 2 for x in m) >= n + 6, 15)
    assert run.stop() == 0
    msgs = dump.messages()
    assert_no_stuck_notes(msgs)
    arp_ons = [x for x in msgs if x.is_note_on and x.channel == 0]
    slow_ons = [x for x in msgs if x.is_note_on and x.channel == 2]
    assert arp_ons and len(slow_ons) >= n + 6
    assert arp_ons[-1].frames < slow_ons[0].frames        # handed over, not overlapping
    # the clock never stopped: one slow note a beat across the swap and the reload, none missing or
    # doubled (a dropped beat is a gap of 2, a double is ~0; the tolerance absorbs a loaded machine)
    beat = 48000 * 60 / 240
    gaps = [(b.frames - a.frames) / beat for a, b in zip(slow_ons, slow_ons[1:])]
    assert all(abs(g - 1.0) < 0.4 for g in gaps), gaps
    assert abs(sum(gaps) / len(gaps) - 1.0) < 0.05, gaps
    # and the hand-over gap from arp to slow is at most one beat
    assert (slow_ons[0].frames - arp_ons[-1].frames) / beat <= 1.05
    assert not [m for m in osc.messages("/cmt/error")]

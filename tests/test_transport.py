"""The timed output process against real peers: JACK (jack_midi_dump in another process), oscdump.

Behaviour, not speed: order, pairing, channels, content; time tolerances are generous.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import mido
import pytest

from bridge.clock import Clock
from bridge.errors import PortError
from bridge.events import Note
from bridge.transport import Transport, TransportOptions

import peers

ROOT = Path(__file__).resolve().parents[1]


def pairing(msgs) -> list:
    """Assert every (channel, pitch) alternates on/off and ends off; return the note-on messages."""
    state: dict[tuple[int, int], bool] = {}
    ons = []
    for m in msgs:
        if m.is_note_on:
            key = (m.channel, m.data[1])
            assert not state.get(key), f"note-on while sounding: {m}"
            state[key] = True
            ons.append(m)
        elif m.is_note_off:
            key = (m.channel, m.data[1])
            assert state.get(key), f"note-off without note-on: {m}"
            state[key] = False
    stuck = [k for k, on in state.items() if on]
    assert not stuck, f"stuck notes (channel, pitch): {stuck}"
    return ons


def offs_match_ons(msgs) -> bool:
    ons = sum(m.is_note_on for m in msgs)
    return ons > 0 and ons == sum(m.is_note_off for m in msgs)


def recorded_notes(path: Path) -> list[tuple[int, int]]:
    """(channel, pitch) of each note in a .mid, asserting every note-on has its note-off."""
    mid = mido.MidiFile(str(path))
    sounding: Counter = Counter()
    notes = []
    for msg in mid:
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[(msg.channel, msg.note)] += 1
            notes.append((msg.channel, msg.note))
        elif msg.type in ("note_off", "note_on"):
            assert sounding[(msg.channel, msg.note)] > 0, f"note-off without note-on in {path}: {msg}"
            sounding[(msg.channel, msg.note)] -= 1
    assert not +sounding, f"unterminated notes in {path}: {+sounding}"
    return notes


@pytest.fixture
def play(jack_server, midi_receiver, tmp_path):
    """Factory: a started Transport (virtual JACK port) with a jack_midi_dump connected to it."""
    made = []

    def make(bpm: float = 120.0, **options):
        clock = Clock(bpm)
        name = f"cmtb{os.getpid()}t{len(made)}"
        options.setdefault("osc_out", None)
        options.setdefault("record", tmp_path / f"{name}.mid")
        transport = Transport(TransportOptions(api="jack", virtual_name=name, **options), clock.anchor)
        transport.start()
        clock.add_listener(transport.set_anchor)
        made.append(transport)
        dump = midi_receiver(transport.port_name)
        time.sleep(0.2)
        return clock, transport, dump

    yield make
    for transport in made:
        transport.close()


def test_every_note_on_reaches_its_note_off_in_order(play, jack_server):
    peers.retry_on_lost_periods(jack_server, lambda: check_phrase_pairing(*play()))


@pytest.fixture(scope="module")
def realtime_jack():
    """A realtime jackd of our own: the JACK-native output is only safe with one (see bridge.sinks)."""
    server = peers.JackServer(name=f"cmtbrt{os.getpid()}", realtime=True)
    try:
        server.start()
    except RuntimeError as err:
        pytest.skip(f"no realtime JACK server here: {err}")
    if "realtime mode" not in server.log.read_text():
        server.stop()
        pytest.skip("jackd could not get realtime priority here")
    yield server
    server.stop()


def test_jack_native_output_pairs_every_note_on_a_realtime_server(realtime_jack, monkeypatch, tmp_path):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", realtime_jack.name)
    clock = Clock(120)
    record = tmp_path / "native.mid"
    options = TransportOptions(api="jack", virtual_name=f"native{os.getpid()}", osc_out=None, record=record,
                               jack_native=True)

    def attempt():
        with Transport(options, clock.anchor) as transport, peers.MidiDump(realtime_jack) as dump:
            dump.connect(transport.port_name)
            time.sleep(0.2)
            check_phrase_pairing(clock, transport, dump)

    peers.retry_on_lost_periods(realtime_jack, attempt)


def check_phrase_pairing(clock, transport, dump):
    notes = [Note(48 + i, 60 + i, i * 0.25, 0.2, channel=i % 4) for i in range(16)]
    notes += [Note(72, 100, 1.0, 1.0, channel=9), Note(36, 90, 3.0, 0.5, channel=15)]
    at = clock.now() + 0.5
    transport.schedule("midime", notes, at_beat=at)
    msgs = dump.wait_for(lambda m: sum(x.is_note_off for x in m) >= len(notes), timeout=15)
    ons = pairing(msgs)
    played = sorted(notes, key=lambda n: n.start)  # simultaneous notes: in the order scheduled
    assert [(m.channel, m.data[1], m.data[2]) for m in ons] == [(n.channel, n.pitch, n.velocity) for n in played]
    # spacing: 16th notes at 120 BPM are 0.125 s apart (the dummy driver's frame clock is approximate)
    sixteenths = [m for m in ons if m.channel < 4 and m.data[1] >= 48]
    assert sixteenths[-1].time_s - sixteenths[0].time_s == pytest.approx(15 * 0.125, abs=0.4)
    assert transport.sounding() == 0
    transport.close()
    assert sorted(recorded_notes(transport.options.record)) == sorted((n.channel, n.pitch) for n in notes)


def test_retriggered_pitch_is_not_cut_short(play):
    clock, transport, dump = play(bpm=120)
    # the same pitch and channel: A [0, 1), B [0.5, 1.5): A's own end must not end B
    transport.schedule("g", [Note(60, 100, 0.0, 1.0), Note(60, 90, 0.5, 1.0)], at_beat=clock.now() + 0.5)
    msgs = dump.wait_for(lambda m: sum(x.is_note_off for x in m) >= 2, timeout=10)
    time.sleep(0.6)  # anything wrong (a third note-off) would show up by now
    msgs = dump.messages()
    pairing(msgs)
    kinds = [("on" if m.is_note_on else "off", m.data[2]) for m in msgs if m.is_note_on or m.is_note_off]
    assert [k for k, _ in kinds] == ["on", "off", "on", "off"]
    second_on, last_off = [m for m in msgs if m.is_note_on][1], [m for m in msgs if m.is_note_off][-1]
    assert second_on.data[2] == 90
    assert last_off.time_s - second_on.time_s > 0.35  # B lasts 1 beat = 0.5 s, not the 0.25 s left of A


def test_stop_while_notes_sound_ends_them_and_keeps_other_generators(play):
    clock, transport, dump = play()
    at = clock.now() + 0.25
    transport.schedule("a", [Note(60 + i, 100, 0.0, 16.0, channel=i) for i in range(4)], at_beat=at)
    transport.schedule("b", [Note(40, 100, 0.0, 2.0, channel=5)], at_beat=at)
    transport.schedule("a", [Note(70, 100, 4.0, 1.0, channel=0)], at_beat=at)  # pending: must never play
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 5, timeout=10)
    assert transport.sounding() == 5
    transport.stop("a")
    msgs = dump.wait_for(lambda m: sum(x.is_note_off for x in m) >= 5, timeout=10)  # b ends on time, later
    pairing(msgs)
    offs = [m for m in msgs if m.is_note_off]
    assert [m.channel for m in offs[:4]] == [0, 1, 2, 3] and offs[4].channel == 5
    assert offs[4].time_s - offs[3].time_s > 0.3  # b was not stopped: it ended at its own time (1 s)
    time.sleep(2.5)  # past beat 4: the cancelled note of "a" stays silent
    assert all(m.data[1] != 70 for m in dump.messages() if m.is_note_on)
    assert transport.sounding() == 0
    assert sorted(recorded_notes(transport.options.record)) == [(0, 60), (1, 61), (2, 62), (3, 63), (5, 40)]
    tracks = [next(m.name for m in t if m.type == "track_name") for t in mido.MidiFile(transport.options.record).tracks]
    assert tracks == ["cmt-bridge", "a ch 1", "a ch 2", "a ch 3", "a ch 4", "b ch 6"]  # a track per channel


def test_panic_sends_note_offs_and_all_notes_off_on_every_channel(play):
    clock, transport, dump = play()
    at = clock.now() + 0.25
    transport.schedule("a", [Note(50 + i, 100, 0.0, 8.0, channel=i * 2) for i in range(3)], at_beat=at)
    transport.schedule("a", [Note(80, 100, 2.0, 1.0)], at_beat=at)
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 3, timeout=10)
    transport.panic()
    msgs = dump.wait_for(lambda m: sum(x.status == 0xB0 for x in m) >= 32, timeout=10)
    pairing(msgs)
    ccs = {(m.channel, m.data[1]) for m in msgs if m.status == 0xB0}
    assert ccs == {(ch, cc) for ch in range(16) for cc in (120, 123)}
    time.sleep(1.5)
    assert all(m.data[1] != 80 for m in dump.messages() if m.is_note_on)  # pending notes dropped too
    assert transport.sounding() == 0


def test_cancel_drops_later_notes_but_sounding_notes_end_on_time(play):
    clock, transport, dump = play()
    at = clock.now() + 0.25
    transport.schedule("g", [Note(60, 100, 0.0, 1.5), Note(62, 100, 2.0, 0.5), Note(64, 100, 3.0, 0.5)], at_beat=at)
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 1, timeout=10)
    transport.cancel("g", from_beat=at + 2.0)
    time.sleep(2.5)
    msgs = dump.messages()
    pairing(msgs)
    ons, offs = [m for m in msgs if m.is_note_on], [m for m in msgs if m.is_note_off]
    assert [m.data[1] for m in ons] == [60] and len(offs) == 1
    assert offs[0].time_s - ons[0].time_s > 0.5  # ended at its own time (0.75 s), not at the cancel


def test_sigterm_to_the_output_process_ends_sounding_notes(play, jack_server):
    peers.retry_on_lost_periods(jack_server, lambda: sigterm_ends_sounding_notes(play))


def sigterm_ends_sounding_notes(play):
    clock, transport, dump = play()
    transport.schedule("g", [Note(60 + i, 100, 0.0, 32.0, channel=i) for i in range(3)], at_beat=clock.now() + 0.25)
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 3, timeout=10)
    os.kill(transport.pid, signal.SIGTERM)
    msgs = dump.wait_for(offs_match_ons, timeout=10)
    pairing(msgs)
    deadline = time.monotonic() + 10
    while transport.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not transport.is_alive()
    with pytest.raises(PortError):
        transport.schedule("g", [Note(60, 100, 0.0, 1.0)], at_beat=clock.now())
    assert sorted(recorded_notes(transport.options.record)) == [(0, 60), (1, 61), (2, 62)]


PARENT_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from bridge.clock import Clock
    from bridge.events import Note
    from bridge.transport import Transport, TransportOptions
    clock = Clock(120)
    t = Transport(TransportOptions(api="jack", virtual_name=sys.argv[1], osc_out=None, record=Path(sys.argv[2])),
                  clock.anchor)
    t.start()
    print(t.port_name, t.pid, flush=True)
    sys.stdin.readline()                      # the test connects its receiver
    t.schedule("g", [Note(60, 100, 0.0, 64.0), Note(67, 100, 0.0, 64.0, channel=3)], clock.now() + 0.25)
    time.sleep(1.0)
    print("sounding", t.sounding(), flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_parent_death_or_ctrl_c_ends_sounding_notes(jack_server, midi_receiver, tmp_path, how):
    record = tmp_path / "orphan.mid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT_SCRIPT, f"orphan{os.getpid()}{how}", str(record)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        port, child_pid = parent.stdout.readline().split()
        dump = midi_receiver(port)
        time.sleep(0.2)
        parent.stdin.write("go\n")
        parent.stdin.flush()
        assert parent.stdout.readline().split() == ["sounding", "2"]
        if how == "SIGKILL":
            parent.kill()                            # the child must notice (pipe EOF / parent pid)
        else:
            os.kill(int(child_pid), signal.SIGINT)   # what a terminal's Ctrl-C sends to the whole group
        msgs = dump.wait_for(offs_match_ons, timeout=10)
        pairing(msgs)
        assert sum(m.is_note_on for m in msgs) == 2
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child_pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = Path(f"/proc/{child_pid}/status")
        assert not status.exists() or "zombie" in status.read_text()
        assert sorted(recorded_notes(record)) == [(0, 60), (3, 67)]
    finally:
        parent.kill()
        parent.wait(5)


def test_osc_note_and_beat_reach_oscdump(play, osc_receiver):
    osc = osc_receiver()
    clock, transport, dump = play(bpm=120, osc_out=("127.0.0.1", osc.port))
    transport.schedule("midime", [Note(60, 100, 0.0, 0.5, channel=0), Note(64, 80, 1.0, 0.25, channel=9)],
                       at_beat=clock.next_bar(margin=0.1) + 1)
    msgs = osc.wait_for(lambda m: len([x for x in m if x.address == "/cmt/note"]) >= 2, timeout=15)
    notes = [m for m in msgs if m.address == "/cmt/note"]
    assert [m.types for m in notes] == ["siiii", "siiii"]
    assert [m.args for m in notes] == [("midime", 60, 100, 250, 1), ("midime", 64, 80, 125, 10)]
    beats = [m.args[0] for m in osc.messages("/cmt/beat")]
    assert beats and beats == sorted(beats) and all(b - a == 1 for a, b in zip(beats, beats[1:]))
    # the note at beat 1 of the phrase arrived one beat (0.5 s) after the first
    assert notes[1].time_s - notes[0].time_s == pytest.approx(0.5, abs=0.2)


def test_midi_clock_out_24_per_beat_at_the_tempo(play):
    clock, transport, dump = play(bpm=150, clock_out=True)
    transport.start_clock()
    time.sleep(2.5)
    clock.set_tempo(100)
    time.sleep(2.5)
    transport.stop_clock()
    msgs = dump.wait_for(lambda m: any(x.data == b"\xfc" for x in m), timeout=10)
    data = [m.data for m in msgs]
    assert data.count(b"\xfa") == 1 and data.count(b"\xfc") == 1
    start = data.index(b"\xfa")
    assert data[start + 1] == b"\xf8"  # Start comes right before a tick
    ticks = [m.time_s for m in msgs if m.data == b"\xf8"]

    def bpm_near(t_from, t_to):
        window = [b - a for a, b in zip(ticks, ticks[1:]) if t_from < a < t_to]
        window.sort()
        return 60.0 / (window[len(window) // 2] * 24)

    change = next(m.time_s for m in msgs if m.data == b"\xfa") + 2.0
    first, second = bpm_near(ticks[0], change), bpm_near(change + 0.8, ticks[-1])
    assert first == pytest.approx(150, rel=0.05) and second == pytest.approx(100, rel=0.05)
    # ~2.5 s at 150 + ~2.5 s at 100 BPM: about 24 ticks per beat in all
    expected = 24 * (2.5 * 150 / 60 + 2.5 * 100 / 60)
    assert len(ticks) == pytest.approx(expected, rel=0.25)


def test_tempo_change_retimes_pending_notes(play):
    clock, transport, dump = play(bpm=120)
    transport.schedule("g", [Note(60 + i, 100, float(i), 0.5) for i in range(8)], at_beat=clock.now() + 0.25)
    dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 2, timeout=10)
    clock.set_tempo(240)
    msgs = dump.wait_for(lambda m: sum(x.is_note_off for x in m) >= 8, timeout=10)
    ons = pairing(msgs)
    assert ons[1].time_s - ons[0].time_s == pytest.approx(0.5, abs=0.2)   # one beat at 120 BPM
    assert ons[7].time_s - ons[4].time_s == pytest.approx(0.75, abs=0.25)  # three beats at 240 BPM


def test_late_phrases_are_dropped_not_played_late(play):
    clock, transport, dump = play()
    transport.schedule("g", [Note(61, 100, 0.0, 8.0)], at_beat=clock.now() - 4.0)  # 2 s ago
    transport.schedule("g", [Note(62, 100, 0.0, 0.25)], at_beat=clock.now() + 0.25)
    msgs = dump.wait_for(lambda m: sum(x.is_note_off for x in m) >= 1, timeout=10)
    assert [m.data[1] for m in pairing(msgs)] == [62]
    assert transport.status()["dropped"] == 1


def test_output_process_does_not_import_torch(play):
    pytest.importorskip("torch")  # loaded in this (parent) process
    assert "torch" in sys.modules
    _, transport, _ = play()
    assert transport.status()["torch_loaded"] is False


def test_missing_port_is_a_clear_port_error(jack_server):
    transport = Transport(TransportOptions(api="jack", midi_out="no-such-port-xyz", osc_out=None), Clock().anchor)
    with pytest.raises(PortError, match="no MIDI output port matching 'no-such-port-xyz'"):
        transport.start()
    assert not transport.is_alive()


def test_api_none_records_without_midi(tmp_path):
    clock = Clock(240)
    record = tmp_path / "none.mid"
    with Transport(TransportOptions(api="none", osc_out=None, record=record), clock.anchor) as transport:
        transport.schedule("g", [Note(60, 100, 0.0, 0.25), Note(64, 100, 0.5, 0.25, channel=2)], clock.now() + 0.1)
        time.sleep(1.0)
        assert transport.status()["api"] == "none"
    assert recorded_notes(record) == [(0, 60), (2, 64)]

"""MIDI ports (bridge.midi_ports) against a real JACK server, and the .mid recorder."""
from __future__ import annotations

import os
import time

import mido
import pytest

from bridge import midi_ports
from bridge.errors import PortError
from bridge.recorder import Recorder


def test_unknown_api_and_api_none():
    with pytest.raises(PortError, match="unknown MIDI API 'sdl'"):
        midi_ports.candidate_apis("sdl")
    assert midi_ports.list_ports("none") == {"api": "none", "inputs": [], "outputs": []}
    port = midi_ports.open_output(None, "x", "none")
    port.send([0x90, 60, 100])  # goes nowhere, raises nothing
    port.close()


def test_find_port_exact_substring_ambiguous_missing():
    names = ["loopMIDI Port 1", "loopMIDI Port 10", "Synth:in"]
    assert midi_ports.find_port(names, "loopMIDI Port 1", "output") == 0  # exact beats substring
    assert midi_ports.find_port(names, "synth", "output") == 2
    with pytest.raises(PortError, match=r"ambiguous \(matches: loopMIDI Port 1, loopMIDI Port 10\)"):
        midi_ports.find_port(names, "loopmidi", "output")
    with pytest.raises(PortError, match=r"no MIDI output port matching 'Live' \(have: loopMIDI Port 1, "):
        midi_ports.find_port(names, "Live", "output")
    with pytest.raises(PortError, match=r"\(have: none\)"):
        midi_ports.find_port([], "Live", "input")


def test_winmm_virtual_port_error_says_loopmidi(monkeypatch):
    class NoVirtual:
        def open_virtual_port(self, name):
            raise NotImplementedError("virtual ports are not supported by WinMM")

        def delete(self):
            pass

    monkeypatch.setattr(midi_ports, "_open_first", lambda kind, api, client: (NoVirtual(), "winmm"))
    monkeypatch.setattr(midi_ports, "candidate_apis", lambda api: ["winmm"])
    with pytest.raises(PortError, match="install loopMIDI.*--midi-out NAME"):
        midi_ports.open_output(None, "cmt-bridge", "winmm")


def test_auto_picks_jack_when_a_server_runs(jack_server):
    assert midi_ports.jack_server_running()
    assert midi_ports.candidate_apis("auto")[0] == "jack"


def test_virtual_and_named_outputs_reach_jack_midi_dump(jack_server, midi_receiver):
    dump = midi_receiver()
    name = f"ports{os.getpid()}"
    virtual = midi_ports.open_output(None, name, "jack")
    try:
        assert virtual.name == f"{name}:midi_out" and virtual.api == "jack"
        listing = midi_ports.list_ports("jack")
        assert listing["api"] == "jack"
        deadline = time.monotonic() + 5
        while dump.port not in listing["outputs"] and time.monotonic() < deadline:
            time.sleep(0.1)
            listing = midi_ports.list_ports("jack")
        assert dump.port in listing["outputs"] and virtual.name in listing["inputs"]
        dump.connect(virtual.name)
        virtual.send([0x92, 61, 99])
        # a named output: rtmidi opens its own port and connects it to the dump
        named = midi_ports.open_output(dump.client, f"named{os.getpid()}", "jack")
        assert named.name == dump.port
        named.send([0x95, 70, 80])
        msgs = dump.wait_for(lambda m: len(m) >= 2, timeout=10)
        assert sorted(m.data for m in msgs) == [bytes([0x92, 61, 99]), bytes([0x95, 70, 80])]
        named.close()
    finally:
        virtual.close()
    with pytest.raises(PortError, match="no MIDI output port matching 'nothing-like-this'"):
        midi_ports.open_output("nothing-like-this", "x", "jack")


def test_recorder_writes_a_valid_file_with_tempo_changes_and_closes_held_notes(tmp_path):
    path = tmp_path / "take.mid"
    rec = Recorder(path, bpm=120)
    rec.tempo(0.0, 100)                  # before anything: the file's starting tempo
    rec.add(9.0, [0x90, 60, 100])        # starts in bar 3 (beat 8): the file starts at beat 8
    rec.add(9.5, [0x91, 64, 90])
    rec.tempo(10.0, 150)
    rec.add(10.0, [0x80, 60, 64])
    rec.add(10.25, [0xB1, 1, 33])
    rec.add(10.5, [0xF8])                # clock: not music, not recorded
    rec.add(10.5, [0x90, 61])            # malformed: not recorded
    rec.write()
    assert not list(tmp_path.glob(".*.tmp"))
    mid = mido.MidiFile(str(path))
    assert mid.type == 1 and mid.ticks_per_beat == 480
    names = [next(m.name for m in t if m.type == "track_name") for t in mid.tracks]
    assert names == ["cmt-bridge", "channel 1", "channel 2"]      # conductor, then a track per channel
    tempi = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert tempi == [mido.bpm2tempo(100), mido.bpm2tempo(150)]
    events = []
    for track in mid.tracks:
        ticks = 0
        for m in track:
            ticks += m.time
            if not m.is_meta:
                events.append((ticks, m.type, m.channel, getattr(m, "note", None)))
    events.sort(key=lambda e: e[0])
    assert events[:4] == [(480, "note_on", 0, 60), (720, "note_on", 1, 64), (960, "note_off", 0, 60),
                          (1080, "control_change", 1, None)]
    assert events[4][1:] == ("note_off", 1, 64)   # still held at the snapshot: closed in the file
    for index, track in enumerate(mid.tracks[1:], start=1):   # each track holds its own channel only
        assert {m.channel for m in track if not m.is_meta} == {index - 1}
    ends = {sum(m.time for m in t) for t in mid.tracks}
    assert len(ends) == 1                          # all tracks end together
    rec.add(11.0, [0x81, 64, 0])
    rec.add(10.0, [0x90, 62, 100])  # back in time (an anchor jump): placed at the previous tick
    rec.add(12.0, [0x80, 62, 0])
    rec.write()
    assert len([m for m in mido.MidiFile(str(path)) if m.type == "note_on"]) == 3


def test_recorder_maybe_write_only_when_changed_and_due(tmp_path):
    rec = Recorder(tmp_path / "x.mid")
    assert not rec.maybe_write(100.0)    # nothing recorded
    rec.add(0.0, [0x90, 60, 100])
    assert rec.maybe_write(100.0)
    rec.add(0.5, [0x80, 60, 0])
    assert not rec.maybe_write(101.0)    # within the interval
    assert rec.maybe_write(104.0)
    assert not rec.maybe_write(110.0)    # nothing new


def test_recorder_puts_drums_on_a_drums_track_and_closes_notes_per_channel(tmp_path):
    rec = Recorder(tmp_path / "d.mid")
    rec.add(0.0, [0x99, 36, 110])        # drums, channel 10, held
    rec.add(0.0, [0x92, 48, 80])         # channel 3, held
    rec.add(1.0, [0x90, 72, 90])
    rec.add(2.0, [0x80, 72, 0])
    rec.write()
    mid = mido.MidiFile(str(tmp_path / "d.mid"))
    tracks = {next(m.name for m in t if m.type == "track_name"): t for t in mid.tracks[1:]}
    assert list(tracks) == ["channel 1", "channel 3", "drums"]
    for name, channel, note in (("drums", 9, 36), ("channel 3", 2, 48)):
        offs = [m for m in tracks[name] if m.type == "note_off"]
        assert [(m.channel, m.note) for m in offs] == [(channel, note)]
        assert sum(m.time for m in tracks[name]) == 2 * 480 + 1   # closed at the end of the take


def test_recorder_names_each_channel_track_after_its_generators(tmp_path):
    rec = Recorder(tmp_path / "n.mid")
    rec.player(2, "cmt")
    rec.player(5, "midime")
    rec.player(5, "arp")
    rec.player(9, "cmt")
    rec.player(7, "silent")               # named but never played: no track
    for channel in (2, 5, 9, 0):
        rec.add(0.0, [0x90 | channel, 60, 90])
        rec.add(1.0, [0x80 | channel, 60, 0])
    rec.write()
    mid = mido.MidiFile(str(tmp_path / "n.mid"))
    names = [next(m.name for m in t if m.type == "track_name") for t in mid.tracks]
    assert names == ["cmt-bridge", "channel 1", "cmt ch 3", "midime+arp ch 6", "cmt drums"]
    assert not [m for t in mid.tracks for m in t if m.type == "program_change"]   # nobody declared one


def test_recorder_names_tracks_after_instruments_and_sets_their_programs(tmp_path):
    rec = Recorder(tmp_path / "v.mid")
    for channel, name, program in ((1, "strings", 48), (3, "bass", 32), (9, "drums", 0), (4, "guitar", 24)):
        rec.voice(channel, "cmt", name, program)
    rec.voice(5, "keys", "organ", None)
    for channel, gen in ((1, "cmt"), (3, "cmt"), (9, "cmt"), (5, "keys"), (3, "other")):
        rec.player(channel, gen)
    for channel in (1, 3, 9, 5):
        rec.add(0.0, [0x90 | channel, 50, 90])
    for channel in (1, 3, 9, 5):
        rec.add(2.0, [0x80 | channel, 50, 0])
    rec.write()
    mid = mido.MidiFile(str(tmp_path / "v.mid"))
    assert [t.name for t in mid.tracks] == ["cmt-bridge", "cmt strings ch 2", "cmt bass+other ch 4",
                                           "keys organ ch 6", "cmt drums"]
    programs = {t.name: [(m.channel, m.program, m.time) for m in t if m.type == "program_change"]
                for t in mid.tracks[1:]}
    assert programs == {"cmt strings ch 2": [(1, 48, 0)], "cmt bass+other ch 4": [(3, 32, 0)],
                        "keys organ ch 6": [], "cmt drums": []}     # no program on channel 10 or when unknown

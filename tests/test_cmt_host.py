"""The CMT generator live: ``cmt-bridge run --play cmt`` on a real JACK server (jack_midi_dump receives),
controlled over OSC (oscsend): density, a video, a missing camera, a bad video; no note left hanging."""
from __future__ import annotations

import shutil

import pytest

from clips import still_then_moving
from fakeplugins.running import BridgeRun, note_pairs
from plugins.cmt import tokens as T

pytestmark = pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools not installed")

CHANNELS = {i.channel for i in T.INSTRUMENTS}


def test_cmt_plays_into_jack_and_obeys_osc(jack_server, midi_receiver, osc_receiver, tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=4.0)
    osc = osc_receiver()
    run = BridgeRun("--play", "cmt", "--tempo", "180", "--set", "cmt.seed=5", plugins=(), env=jack_server.env,
                    reply_port=osc.port, disable="midime,transcription")
    try:
        run.wait_ready()
        dump = midi_receiver(run.port_name)
        msgs = dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 8, timeout=30)
        assert sum(x.is_note_on for x in msgs) >= 8, run.output
        assert {x.channel for x in msgs if x.is_note_on} <= CHANNELS
        run.oscsend("/cmt/cmt/density", "i", 6)
        run.oscsend("/cmt/cmt/video", "s", str(clip))
        run.oscsend("/cmt/cmt/video", "s", str(tmp_path / "missing.mp4"))
        run.oscsend("/cmt/cmt/camera", "i", 9)
        run.oscsend("/cmt/cmt/density", "i", 12)
        errors = osc.wait_for(lambda m: len([x for x in m if x.address == "/cmt/error"]) >= 3, 20)
        errors = [m.args for m in errors if m.address == "/cmt/error"]
        assert any(e[0] == "/cmt/cmt/video" and "missing.mp4" in e[1] for e in errors), errors
        assert any(e[0] == "/cmt/cmt/camera" and "no camera 9" in e[1] for e in errors), errors
        assert any(e[0] == "/cmt/cmt/density" and "0..7" in e[1] for e in errors), errors
        n = sum(x.is_note_on for x in dump.messages())
        assert dump.wait_for(lambda m: sum(x.is_note_on for x in m) > n + 8, 20), "stopped playing after errors"
        notes = osc.messages("/cmt/note")
        assert notes and notes[0].args[0] == "cmt"
        run.oscsend("/cmt/stop")
        assert run.stop() == 0, run.output
        pairs, sounding = note_pairs(dump.messages())
        assert sounding == {}, f"notes left sounding: {sounding}"
        assert "cmt: video clip.mp4" in run.output, run.output
        infos = osc.messages("/cmt/info")
        assert any(m.args[0] == "cmt" and "clip.mp4" in m.args[1] for m in infos), infos
        import mido

        by_name = {i.channel: i for i in T.INSTRUMENTS}
        tracks = mido.MidiFile(str(run.record)).tracks[1:]   # the recording: a track per instrument
        assert tracks
        for track in tracks:
            channels = {m.channel for m in track if not m.is_meta}
            assert len(channels) == 1
            ins = by_name[channels.pop()]
            assert track.name == (f"cmt {ins.name} ch {ins.channel + 1}" if ins.channel != 9 else "cmt drums")
            programs = [m.program for m in track if m.type == "program_change"]
            assert programs == ([] if ins.channel == 9 else [ins.program])
    finally:
        run.close()


def test_do_flag_runs_actions_at_launch(jack_server, midi_receiver, tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=4.0)
    run = BridgeRun("--play", "cmt", "--tempo", "240", "--do", f"cmt.video={clip}", "--do", "cmt.camera=9",
                    plugins=(), env=jack_server.env, disable="midime,transcription")
    try:
        run.wait_ready()
        dump = midi_receiver(run.port_name)
        assert dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 4, timeout=30), run.output
        import time

        deadline = time.monotonic() + 10
        while "no camera 9" not in run.output and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "cmt: video clip.mp4" in run.output and "no camera 9" in run.output, run.output
        assert run.proc.poll() is None            # a missing camera does not stop the host
    finally:
        run.close()

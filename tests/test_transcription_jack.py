"""Live transcription through a real audio path: a WAV is played into JACK (dummy driver) by another
process, the host's transcription generator listens to a JACK audio input port (``listen jack:<port>``),
and an independent ``jack_midi_dump`` receives the notes it plays."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import shutil

import pytest

import peers
from bridge.errors import InputError
from fakeplugins.running import BridgeRun, note_pairs
from test_transcription_cli import TUNE, onset_f1, pytestmark, reference, render  # noqa: F401

PLAYER = Path(__file__).resolve().parent / "jack_wav_player.py"


def test_jack_source_names():
    from bridge.api import jack_source

    assert jack_source("jack") == "" and jack_source("jack:system:capture_1") == "system:capture_1"
    assert jack_source("") is None and jack_source("2") is None and jack_source("USB Mic") is None


def test_no_jack_server_is_a_one_line_error(monkeypatch):
    from bridge.api import JackInput

    monkeypatch.setenv("JACK_DEFAULT_SERVER", "cmtb-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    with pytest.raises(InputError, match="no JACK server to listen to") as e:
        JackInput("cmtb-probe")
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def audio_server():
    """A JACK server of its own with 1024-frame periods (21 ms), as an audio setup would run: Python
    clients (the player, the host's input) cannot keep the 64-frame periods of the MIDI tests' server
    on a loaded machine, and a period a client misses is audio lost."""
    if shutil.which("jackd") is None or shutil.which("jack_midi_dump") is None:
        pytest.skip("jackd / jack_midi_dump not installed (Debian package jackd2)")
    server = peers.JackServer(rate=48000, period=1024).start()
    yield server
    server.stop()


def test_a_wav_played_into_jack_is_transcribed_live_and_played_into_jack(tmp_path, audio_server):
    peers.retry_on_lost_periods(audio_server, lambda: _play_and_transcribe(tmp_path, audio_server))


def _play_and_transcribe(tmp_path, jack_server) -> None:
    wav = render(tmp_path, "trumpet", jack_server.rate)
    player_name = f"wavplayer{tmp_path.name[-6:]}"
    run = BridgeRun("--play", "transcription", "--tempo", "120", env=jack_server.env,
                    disable="midime,midime16,tagger,cmt,visuals")
    player = dump = None
    try:
        run.wait_ready()
        dump = peers.MidiDump(jack_server).connect(run.port_name)
        run.send("/cmt/transcription/listen", "jack:nope:out")   # a port that does not exist: answered, not fatal
        player = subprocess.Popen([sys.executable, str(PLAYER), str(wav), player_name, "--wait-connection"],
                                  stdout=subprocess.PIPE, text=True, env=jack_server.env)
        assert player.stdout.readline().strip() == "ready"
        run.send("/cmt/transcription/listen", f"jack:{player_name}:out")
        assert player.stdout.readline().startswith("playing")     # the host's port connected itself
        msgs = dump.wait_for(lambda m: len(note_pairs(m)[0]) >= len(TUNE) - 1, 40)
        ons = [m for m in msgs if m.status == 0x90 and m.data[2] > 0]
        assert ons, run.output
        found = [(m.time_s, m.data[1]) for m in ons]
        ref = reference()
        # heard notes replay a bar later in their own rhythm (held notes too): score at the best alignment of a
        # heard note with the tune's first
        best = max(onset_f1([(t - t0 + ref[0][0], p) for t, p in found], ref, tolerance=0.06) for t0, _ in found)
        assert best >= 0.8, (found, ref)
        assert all(m.channel == 1 for m in ons)                                # transcription's channel 2
        out = run.output
        assert "no JACK audio output port matches 'nope:out'" in out
        assert "cmt-bridge-transcription:in" in " ".join(jack_server.ports())
        assert run.stop() == 0
        assert note_pairs(dump.messages())[1] == {}   # nothing left hanging
    finally:
        if player is not None:
            player.kill()
            player.wait()
        run.close()
        if dump is not None:
            dump.close()

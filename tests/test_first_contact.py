"""First contact: what a musician meets before anything plays says how to go on.

Learning without a MIDI input says how to start the host with one (over OSC, read by oscdump); a host
that finds no MIDI system names the real flag (--api) without a wall of ALSA / JACK library noise."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.midi_ports import quiet_c_stderr
from bridge.runtime import default_models_dir
from fakeplugins import ARP
from fakeplugins.running import BridgeRun, cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("oscsend") is None, reason="liblo-tools not installed")
@pytest.mark.skipif(not (default_models_dir() / "musicvae-mel2bar" / "manifest.json").is_file(),
                    reason="no MusicVAE model")
def test_learning_without_a_midi_input_says_how_to_start_one(osc_receiver):
    osc = osc_receiver()
    run = BridgeRun("--api", "none", plugins=(ARP,), disable="tagger,transcription,cmt", reply_port=osc.port)
    try:
        run.wait_ready(60)
        ready = next(line for line in run.lines if line.startswith("cmt-bridge ready:"))
        assert "no MIDI in (--virtual-in)" in ready
        run.oscsend("/cmt/learn", "ss", "arp", "root")
        run.oscsend("/cmt/midime/learn", "i", 8)
        got = osc.wait_for(lambda m: len([x for x in m if x.address == "/cmt/error"]) >= 2, 20)
        errors = {x.args[0]: x.args[1] for x in got if x.address == "/cmt/error"}
        for address in ("/cmt/learn", "/cmt/midime/learn"):
            assert "no MIDI input: start it with --virtual-in" in errors[address], errors
            assert "--midi-in PORT" in errors[address]
        assert "nothing was played" not in errors["/cmt/midime/learn"]
    finally:
        run.close()


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/dev/snd/seq"),
                    reason="needs a Linux without an ALSA sequencer (the probe must fail)")
def test_no_midi_system_names_the_real_flag_without_library_noise(tmp_path):
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"nosuch{os.getpid()}", CMT_BRIDGE_DISABLE="midime,tagger,cmt,transcription")
    env.pop("MIDO_BACKEND", None)
    r = subprocess.run([*cli(), "ports"], capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    text = r.stdout + r.stderr
    assert "--api jack|alsa|none" in text and "--midi-api" not in text, text
    noise = [ln for ln in text.splitlines() if ln.startswith(("ALSA lib", "Cannot connect to server", "Jack"))]
    assert noise == [], text
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr


def test_quiet_c_stderr_drops_only_the_library_noise(capfd):
    with quiet_c_stderr():
        os.write(2, b"ALSA lib seq_hw.c:466:(snd_seq_hw_open) open /dev/snd/seq failed\n")
        os.write(2, b"Cannot connect to server socket err = No such file or directory\n")
        os.write(2, b"something else that matters\n")
    assert capfd.readouterr().err == "something else that matters\n"

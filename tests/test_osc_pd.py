"""Pure Data (headless) as the OSC peer: tests/pd/control.pd sends /cmt/play, /cmt/tempo, a bad
/cmt/tempo and /cmt/status from its own process, and prints every reply it receives."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from fakeplugins import ARP
from fakeplugins.running import BridgeRun, note_pairs

PATCH = Path(__file__).resolve().parent / "pd" / "control.pd"

pytestmark = pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data not installed (puredata-core)")


def test_pd_patch_plays_and_reads_replies(jack_server, midi_receiver):
    run = BridgeRun("--tempo", "150", plugins=(ARP,), env=jack_server.env)
    pd = None
    try:
        run.wait_ready()
        dump = midi_receiver(run.port_name)
        pd = subprocess.Popen(["pd", "-nogui", "-noaudio", "-nomidi", "-stderr",
                               "-send", f"ports {run.osc_port} {run.reply_port}", "-open", str(PATCH)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        msgs = dump.wait_for(lambda m: len(note_pairs(m)[0]) >= 4, 20)
        assert len(note_pairs(msgs)[0]) >= 4                       # /cmt/play arp from Pd
        time.sleep(2.5)                                            # the patch's last message goes at 1.5 s
    finally:
        if pd is not None:
            pd.terminate()
            out = pd.communicate(timeout=10)[0]
        run.stop()
        run.close()
    lines = [line for line in out.splitlines() if line.startswith("reply:")]
    errors = [line for line in lines if line.startswith("reply: cmt error")]
    assert len(errors) == 1 and "/cmt/tempo" in errors[0] and "must\\ be\\ a\\ float" in errors[0]
    status = [line for line in lines if line.startswith("reply: cmt status")]
    assert len(status) == 1
    assert '"tempo":90.0' in status[0] and '"playing":["arp"]' in status[0]   # compact JSON (Pd's 1000 chars)
    assert any(line.startswith("reply: cmt note arp") for line in lines)
    assert any(line.startswith("reply: cmt beat") for line in lines)

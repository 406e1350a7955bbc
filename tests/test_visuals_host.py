"""The live visuals generator through the host: ``cmt-bridge run`` in its own process, ``oscsend`` gives it
a file, ``oscdump`` (another process) receives /cmt/visuals/params, /pulse and /palette at the frame rate:
no pulse in the silence, pulses on the clicks, nothing after unlisten. Uses the shipped tagger model."""
from __future__ import annotations

import shutil
import subprocess
import time

import numpy as np
import pytest

from peers import free_udp_port
from test_tagger_host import ROOT
from test_tagger_host import start_host, stop
from visuals_fixture import clicks

pytestmark = pytest.mark.skipif(shutil.which("oscsend") is None or shutil.which("oscdump") is None,
                                reason="needs liblo-tools")
FPS = 20
SILENCE_S, CLICKS_S = 2.0, 4.0


def test_the_live_visuals_follow_a_file_at_a_steady_frame_rate(tmp_path, osc_receiver):
    import soundfile

    rate = 22050
    x, _ = clicks(CLICKS_S, rate, every_s=0.5)
    audio = np.concatenate([np.zeros(int(SILENCE_S * rate), np.float32), x, np.zeros(rate, np.float32)])
    soundfile.write(str(tmp_path / "take.wav"), audio, rate)
    dump = osc_receiver()
    osc_in = free_udp_port()
    host, ready = start_host({"CMT_BRIDGE_DISABLE": "midime,cmt,transcription,tagger"}, osc_in, dump.port,
                             "--seconds", "60")
    try:
        assert "ready" in ready and "visuals" in ready, ready
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/visuals/fps", "f", str(FPS)], check=True)
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/visuals/file", "s", str(tmp_path / "take.wav")],
                       check=True)
        dump.wait_for(lambda msgs: sum(m.address == "/cmt/visuals/params" for m in msgs) >= FPS * 6.5, timeout=40)
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/visuals/unlisten"], check=True)
        time.sleep(1.0)
        stopped_at = len(dump.messages("/cmt/visuals/params"))
        time.sleep(1.0)
        after = len(dump.messages("/cmt/visuals/params"))
    finally:
        out = ready + stop(host)
    params, pulses, palettes = (dump.messages(f"/cmt/visuals/{m}") for m in ("params", "pulse", "palette"))
    assert "visuals: following file take.wav" in out, out
    assert all(m.types == "f" * 12 for m in params) and all(m.types == "f" * 12 for m in palettes)
    assert all(m.types == "f" and 0.0 <= m.args[0] <= 1.0 for m in pulses)
    # a steady rate: FPS frames a second on the receiver's clock (loose: a loaded machine delays UDP)
    t = np.array([m.time_s for m in params[:FPS * 6]])
    assert 0.7 * FPS < (len(t) - 1) / (t[-1] - t[0]) < 1.3 * FPS
    assert np.median(np.diff(t)) == pytest.approx(1.0 / FPS, rel=0.3)
    # what was heard: no pulse in the leading silence, pulses on the clicks
    p = np.array([m.args[0] for m in pulses])
    assert p[:int(FPS * (SILENCE_S - 0.3))].max() == 0.0
    assert p[int(FPS * (SILENCE_S + 0.3)):int(FPS * (SILENCE_S + CLICKS_S))].max() > 0.5
    phase = np.array([m.args[8] for m in params])
    assert np.all(np.diff(phase) > 0)              # the motion goes on, never backwards
    assert after == stopped_at                     # unlisten stops the frames
    assert dump.messages("/cmt/note") == [] and not dump.messages("/cmt/error"), dump.messages("/cmt/error")


@pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data not installed (Debian package puredata-core)")
def test_the_pd_twin_receives_the_live_parameters(tmp_path):
    """The host's visuals frames reach the generated Pd twin (max_patches/cmt-bridge-visuals.pd) over UDP."""
    import soundfile

    rate = 22050
    x, _ = clicks(6.0, rate, every_s=0.5)
    soundfile.write(str(tmp_path / "take.wav"), x, rate)
    reply, osc_in = free_udp_port(), free_udp_port()
    pd = subprocess.Popen([shutil.which("pd"), "-nogui", "-noaudio", "-nomidi", "-stderr", "-send",
                           f"cmt-visuals-listen {reply}", "-open", str(ROOT / "max_patches" / "cmt-bridge-visuals.pd")],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    host, ready = start_host({"CMT_BRIDGE_DISABLE": "midime,cmt,transcription,tagger"}, osc_in, reply, "--seconds", "30")
    try:
        assert "ready" in ready, ready
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/visuals/file", "s", str(tmp_path / "take.wav")],
                       check=True)
        time.sleep(4.0)
    finally:
        stop(host)
        pd.terminate()
        err = pd.communicate(timeout=10)[1]
    params = [line.split(": ", 1)[1].split() for line in err.splitlines() if line.startswith("cmt-visuals-params: ")]
    pulses = [float(line.split(": ", 1)[1]) for line in err.splitlines() if line.startswith("cmt-visuals-pulse: ")]
    palettes = [line for line in err.splitlines() if line.startswith("cmt-visuals-palette: ")]
    assert len(params) > 20 and all(len(p) == 12 for p in params), err[-2000:]
    assert palettes and max(pulses) > 0.5
    assert "error" not in err and "couldn't create" not in err

"""The live tagger through the host: ``cmt-bridge run`` in its own process, ``oscsend`` gives it a file,
``oscdump`` (another process) receives /cmt/tagger/tags, /caption and /embedding once a bar, as soon as heard.
A missing tagger model is one warning line and the other generators keep playing.
The model is the test fixture (hand-set weights, plumbing only)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from peers import NTP_EPOCH, free_udp_port
from tagger_fixture import LOUD_SENTENCE, QUIET_SENTENCE, make_tagger_folder, tone

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("oscsend") is None or shutil.which("oscdump") is None,
                                reason="needs liblo-tools")
TEMPO = 240.0   # one 4/4 bar = 1 s


def start_host(env: dict, osc_in: int, osc_out: int, *extra: str) -> tuple[subprocess.Popen, str]:
    host = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--api", "none", "--no-record",
                             "--osc-port", str(osc_in), "--reply-port", str(osc_out), "--tempo", str(TEMPO), *extra],
                            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.monotonic() + 60
    while time.monotonic() < deadline and host.poll() is None:
        line = host.stdout.readline()
        lines.append(line)
        if "ready" in line:
            break
    return host, "".join(lines)


def stop(host: subprocess.Popen) -> str:
    if host.poll() is None:
        host.send_signal(signal.SIGINT)
    try:
        out, _ = host.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        host.kill()
        out, _ = host.communicate()
    return out


def tagger_lines(dump_path: Path, address: str) -> list[tuple[float, str]]:
    """(receive time, the quoted string argument) of each message to ``address`` (oscdump does not escape quotes)."""
    out = []
    for line in dump_path.read_text(errors="replace").splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[1] == address:
            sec, frac = parts[0].split(".")
            out.append((int(sec, 16) - NTP_EPOCH + int(frac, 16) / 2 ** 32, parts[3]))
    return out


def test_the_live_tagger_speaks_every_bar(tmp_path, osc_receiver):
    import soundfile

    models = tmp_path / "models"
    make_tagger_folder(models / "tagger")
    audio = tmp_path / "take.flac"
    soundfile.write(str(audio), np.concatenate([tone(3.0, 44100, 0.5), tone(3.0, 44100, 0.01),
                                                np.zeros(3 * 44100, np.float32)]), 44100)
    dump = osc_receiver()
    osc_in = free_udp_port()
    host, ready = start_host({"CMT_BRIDGE_MODELS": str(models), "CMT_BRIDGE_DISABLE": "midime,cmt,transcription"},
                             osc_in, dump.port, "--seconds", "60")
    try:
        assert "ready" in ready and "generators: tagger" in ready, ready
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/tagger/file", "s", str(audio)], check=True)
        dump.wait_for(lambda msgs: any(m.address == "/cmt/tagger/caption" and m.args == ("silence",) for m in msgs),
                      timeout=30)
    finally:
        out = ready + stop(host)
    captions = [m.args[0] for m in dump.messages("/cmt/tagger/caption")]
    tags = [(t, json.loads(text[1:-1])) for t, text in tagger_lines(dump.path, "/cmt/tagger/tags")]
    embeddings = dump.messages("/cmt/tagger/embedding")
    assert "tagger: listening to file take.flac (9.0 s)" in out, out
    # what was heard, bar by bar: loud, then quiet, then silence (the fixture's known sentences)
    assert captions[0] == LOUD_SENTENCE and QUIET_SENTENCE in captions and captions[-1] == "silence", captions
    assert captions.index(QUIET_SENTENCE) > captions.index(LOUD_SENTENCE)
    assert len(tags) == len(captions) == len(embeddings) >= 6
    assert all(m.types == "f" * 8 for m in embeddings)
    # once a bar (1 s at 240 BPM), and sent when heard: receive time - audio time stays constant
    seconds = [d["seconds"] for _, d in tags]
    steps = np.diff(seconds)
    assert np.all(np.abs(steps - 60.0 / TEMPO * 4) < 0.1), seconds
    lag = np.array([t for t, _ in tags]) - np.array(seconds)
    assert np.ptp(lag) < 0.1, lag
    assert [d["bar"] for _, d in tags] == list(range(1, len(tags) + 1))
    assert tags[0][1]["tags"]["dynamics"] == ["loud"] and tags[-1][1]["silent"] is True
    assert dump.messages("/cmt/note") == []           # it plays no notes
    assert not dump.messages("/cmt/error"), dump.messages("/cmt/error")


def test_a_bad_file_is_answered_and_the_tagger_keeps_listening(tmp_path, osc_receiver):
    models = tmp_path / "models"
    make_tagger_folder(models / "tagger")
    dump = osc_receiver()
    osc_in = free_udp_port()
    (tmp_path / "notes.txt").write_text("not audio\n" * 50)
    host, ready = start_host({"CMT_BRIDGE_MODELS": str(models), "CMT_BRIDGE_DISABLE": "midime,cmt,transcription"},
                             osc_in, dump.port, "--seconds", "30")
    try:
        assert "ready" in ready, ready
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/tagger/file", "s", str(tmp_path / "notes.txt")],
                       check=True)
        msgs = dump.wait_for(lambda msgs: any(m.address == "/cmt/error" for m in msgs), timeout=10)
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/status"], check=True)
        msgs = dump.wait_for(lambda msgs: any(m.address == "/cmt/status" for m in msgs), timeout=10)
    finally:
        stop(host)
    errors = [m.args for m in msgs if m.address == "/cmt/error"]
    assert errors and errors[0][0] == "/cmt/tagger/file" and "not a readable audio file" in errors[0][1], errors
    status = [m for m in msgs if m.address == "/cmt/status"]
    assert status and host.returncode == 0


def test_a_missing_tagger_model_is_one_line_and_the_others_play(tmp_path, osc_receiver):
    models = tmp_path / "models"
    models.mkdir()
    for folder in (ROOT / "onnx_models").iterdir():      # every shipped model but the tagger
        if folder.is_dir() and folder.name != "tagger":
            (models / folder.name).symlink_to(folder)
    if not (models / "musicvae-mel2bar" / "manifest.json").is_file():
        pytest.skip("no shipped MusicVAE model")
    dump = osc_receiver()
    osc_in = free_udp_port()
    # visuals off: it needs the tagger model too, and would warn about it once more
    host, ready = start_host({"CMT_BRIDGE_MODELS": str(models), "CMT_BRIDGE_DISABLE": "cmt,transcription,visuals"},
                             osc_in, dump.port, "--seconds", "8", "--play", "midime")
    try:
        assert "ready" in ready and "playing: midime" in ready, ready
        dump.wait_for(lambda msgs: sum(m.address == "/cmt/note" for m in msgs) >= 4, timeout=20)
    finally:
        out = ready + stop(host)
    warnings = [line for line in out.splitlines() if "tagger" in line]
    assert len(warnings) == 1 and "warning" in warnings[0] and "no manifest.json" in warnings[0], out
    assert len(dump.messages("/cmt/note")) >= 4
    assert any(m.args[0] == "/cmt" and "tagger" in m.args[1] for m in dump.messages("/cmt/error"))


@pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data not installed (Debian package puredata-core)")
def test_the_pd_twin_prints_the_taggers_messages(tmp_path):
    """The committed Pd control twin, headless, listening where the host replies: it prints caption and tags."""
    import soundfile

    from test_patches_pd_bridge import PdRun

    models = tmp_path / "models"
    make_tagger_folder(models / "tagger")
    audio = tmp_path / "loud.wav"
    soundfile.write(str(audio), tone(6.0, 44100, 0.5), 44100)
    osc_in, reply = free_udp_port(), free_udp_port()
    pd = PdRun(ROOT / "max_patches" / "cmt-bridge-control.pd", f"cmt-listen {reply}")
    host = None
    try:
        time.sleep(1.0)
        host, ready = start_host({"CMT_BRIDGE_MODELS": str(models), "CMT_BRIDGE_DISABLE": "midime,cmt,transcription"},
                                 osc_in, reply, "--seconds", "30")
        assert "ready" in ready, ready
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/tagger/file", "s", str(audio)], check=True)
        captions = pd.wait_for("cmt-tagger-caption", lambda text: text == LOUD_SENTENCE, timeout=20)
        tags = pd.wait_for("cmt-tagger-tags", lambda text: '"dynamics":["loud"]' in text, timeout=5)
        embedding = pd.wait_for("cmt-tagger-embedding", lambda text: len(text.split()) == 8, timeout=5)
    finally:
        if host is not None:
            stop(host)
        pd.close()
    assert captions and tags and embedding


def test_the_tagger_hears_what_the_host_plays(tmp_path, osc_receiver):
    """midime plays (the shipped model), the tagger renders the host's notes in-process and tags them; after
    /cmt/stop midime the window empties and it says 'silence'."""
    models = tmp_path / "models"
    models.mkdir()
    make_tagger_folder(models / "tagger")
    shipped = ROOT / "onnx_models" / "musicvae-mel2bar"
    if not (shipped / "manifest.json").is_file():
        pytest.skip("no shipped MusicVAE model")
    (models / "musicvae-mel2bar").symlink_to(shipped)
    dump = osc_receiver()
    osc_in = free_udp_port()
    host, ready = start_host({"CMT_BRIDGE_MODELS": str(models), "CMT_BRIDGE_DISABLE": "cmt,transcription"},
                             osc_in, dump.port, "--seconds", "60", "--play", "midime", "--do", "tagger.host")
    try:
        assert "ready" in ready and "playing: midime" in ready, ready
        heard = lambda msgs: [m for m in msgs if m.address == "/cmt/tagger/caption" and m.args != ("silence",)]  # noqa: E731
        dump.wait_for(lambda msgs: len(heard(msgs)) >= 3, timeout=30)
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/stop", "s", "midime"], check=True)
        stopped = time.monotonic()
        dump.wait_for(lambda msgs: [m.args for m in msgs if m.address == "/cmt/tagger/caption"][-1:] == [("silence",)]
                      and time.monotonic() > stopped, timeout=15)
    finally:
        out = ready + stop(host)
    assert "listening to the host's own notes" in out, out
    tags = [json.loads(text[1:-1]) for _, text in tagger_lines(dump.path, "/cmt/tagger/tags")]
    sounding = [t for t in tags if not t["silent"]]
    assert len(sounding) >= 3 and all(t["source"].startswith("the host's own notes") for t in tags)
    assert dump.messages("/cmt/note"), "midime played nothing"
    assert tags[-1]["silent"] and dump.messages("/cmt/tagger/caption")[-1].args == ("silence",)

"""The host plays a transcription live: ``cmt-bridge run`` in its own process, ``oscsend`` triggers
``/cmt/transcription/file``, ``oscdump`` (another process) receives the /cmt/note stream in time."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_transcription_cli import BPM, ENV, MODEL, TUNE, render

pytestmark = [pytest.mark.skipif(shutil.which("oscsend") is None or shutil.which("oscdump") is None,
                                 reason="needs liblo-tools"),
              pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs fluidsynth"),
              pytest.mark.skipif(not (MODEL / "manifest.json").is_file(), reason="no shipped transcription model")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_host(procs: list, osc_in: int, osc_out: int, dump: Path, env: dict) -> subprocess.Popen:
    """oscdump on ``osc_out`` into ``dump``, then ``cmt-bridge run`` (tempo 120) until it says ready; both are
    appended to ``procs`` (for :func:`stop`)."""
    with open(dump, "w") as dump_file:
        procs.append(subprocess.Popen(["oscdump", "-L", str(osc_out)], stdout=dump_file, stderr=subprocess.STDOUT))
    host = subprocess.Popen([sys.executable, "-m", "bridge", "run", "--api", "none", "--no-record",
                             "--osc-port", str(osc_in), "--reply-port", str(osc_out), "--tempo", "120",
                             "--seconds", "60"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(host)
    deadline = time.monotonic() + 30
    ready = ""
    while "ready" not in ready and time.monotonic() < deadline and host.poll() is None:
        ready = host.stdout.readline()
    assert "ready" in ready, ready
    return host


def stop(procs: list[subprocess.Popen]) -> None:
    """End the peers and the host (the last one, with SIGINT: its own shutdown), killing what hangs."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT) if p is procs[-1] else p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def notes_of(dump: Path) -> list[tuple[float, int]]:
    """(time tag seconds, pitch) of every /cmt/note oscdump printed."""
    out = []
    for line in dump.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "/cmt/note":
            hi, lo = parts[0].split(".")
            out.append((int(hi, 16) + int(lo, 16) / 2 ** 32, int(parts[4])))
    return out


def test_file_action_streams_the_tune_in_time(tmp_path):
    wav = render(tmp_path, "trumpet")
    osc_in, osc_out = free_port(), free_port()
    dump_path = tmp_path / "dump.txt"
    procs = []
    try:
        start_host(procs, osc_in, osc_out, dump_path, {**ENV, "CMT_BRIDGE_DISABLE": "midime"})
        subprocess.run(["oscsend", "localhost", str(osc_in), "/cmt/transcription/file", "s", str(wav)], check=True)
        deadline = time.monotonic() + 30
        while len(notes_of(dump_path)) < len(TUNE) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = notes_of(dump_path)
    finally:
        stop(procs)
    assert [p for _, p in got[:len(TUNE)]] == [p for p, _, _ in TUNE], got
    t0, r0 = got[0][0], TUNE[0][1] * 60 / BPM
    for (t, _), (_, start, _) in zip(got, TUNE):  # host tempo 120 = the transcription's seconds
        assert abs((t - t0) - (start * 60 / BPM - r0)) < 0.1

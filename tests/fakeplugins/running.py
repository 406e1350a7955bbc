"""``cmt-bridge run`` as a subprocess for end-to-end tests: start, wait for ready, send OSC, stop."""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from peers import free_udp_port
from pythonosc.osc_message_builder import OscMessageBuilder

ROOT = Path(__file__).resolve().parents[2]


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("cmt-bridge")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge"]


class BridgeRun:
    """One ``cmt-bridge run`` process; ``stderr`` is collected in the background."""

    def __init__(self, *args: str, plugins=(), env: dict | None = None, reply_port: int | None = None,
                 disable: str = "midime,midime16,tagger", cwd: Path | None = None):
        # the tagger plays nothing and its model folder may be absent: it would only add a start-up warning
        self.osc_port = free_udp_port()
        self.reply_port = reply_port or free_udp_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="cmtb-run-"))
        self.record = self.tmp / "take.mid"
        self.virtual = f"cmtb{os.getpid() % 10000}x{int(time.monotonic() * 1000) % 100000}"
        full_env = dict(env or os.environ)
        full_env["CMT_BRIDGE_PLUGINS"] = ",".join(plugins)
        full_env["CMT_BRIDGE_DISABLE"] = disable
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        cmd = [*cli(), "run", "--osc-port", str(self.osc_port), "--reply-port", str(self.reply_port),
               "--virtual-name", self.virtual, "--record", str(self.record), *args]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=full_env, cwd=cwd or ROOT, stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.port_name = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("cmt-bridge ready:"):
                m = re.search(r"MIDI out '([^']*)'", line)
                self.port_name = m.group(1) if m else ""
                self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> "BridgeRun":
        end = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > end:
                time.sleep(0.2)
                raise RuntimeError(f"cmt-bridge run did not get ready (exit {self.proc.poll()}):\n{self.output}")
        return self

    def send(self, address: str, *args) -> None:
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        self.send_raw(b.build().dgram)

    def send_raw(self, data: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(data, ("127.0.0.1", self.osc_port))

    def oscsend(self, address: str, types: str = "", *args) -> None:
        subprocess.run(["oscsend", "localhost", str(self.osc_port), address, types, *map(str, args)],
                       check=True, capture_output=True, timeout=10)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def note_pairs(messages) -> tuple[list[tuple], dict]:
    """Pair note-ons with note-offs in arrival order. Returns (pairs, still sounding {(ch, pitch): count}).

    All-notes-off (CC 123) or all-sound-off (CC 120), which /cmt/panic sends on every channel, ends whatever
    still sounds on its channel, as it does in a synth."""
    open_notes: dict[tuple[int, int], list] = {}
    pairs = []
    for m in messages:
        if m.status == 0xB0 and len(m.data) == 3 and m.data[1] in (120, 123):
            for key in [k for k in open_notes if k[0] == m.channel]:
                open_notes[key] = []
        elif m.is_note_on:
            open_notes.setdefault((m.channel, m.data[1]), []).append(m)
        elif m.is_note_off:
            stack = open_notes.get((m.channel, m.data[1]))
            if stack:
                pairs.append((stack.pop(0), m))
    return pairs, {k: len(v) for k, v in open_notes.items() if v}

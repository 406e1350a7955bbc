"""Real peers for tests, in their own processes: a JACK server, jack_midi_dump, oscdump.

Used by the fixtures in ``tests/conftest.py`` (``jack_server``, ``midi_receiver``,
``osc_receiver``) and by ``bench/timing.py``. Everything started here is killed
by its owner (fixture finalizers / context managers); nothing is killed by name.

jack_midi_dump's output (``-a``: absolute frame times since it started)::

      65472: 90 3c 64 note on  (channel  0): pitch  60, velocity 100
      79936: f8

is parsed into ``MidiMessage(frames, time_s, data)``; oscdump's (``-L``)::

    eeb9b9fa.d728a610 /cmt/note siiii "midime" 60 100 250 1

into ``OscMessage(time_s, address, types, args)`` (time: its NTP receive stamp).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

NTP_EPOCH = 2208988800


def _env(server: str) -> dict:
    return dict(os.environ, JACK_DEFAULT_SERVER=server)


def jackd_running() -> bool:
    """True when any process called jackd runs on this machine (anyone's)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "jackd":
                    return True
            except OSError:
                continue
    return False


REGISTRY = Path("/dev/shm/jack-shm-registry")
SLOT_BYTES, SLOTS_AT, MAX_SERVERS = 264, 24, 8   # jack_shm_server_t {pid_t pid; char name[256]} + padding


def reclaim_dead_jack_slots() -> list[str]:
    """Free registry slots of servers that died without unregistering (their pid is gone).

    jackd only reclaims a dead slot for a server of the same name, so killed
    servers with unique names fill the 8 slots ("Too many servers already active").
    """
    freed = []
    try:
        with open(REGISTRY, "r+b") as fh:
            for slot in range(MAX_SERVERS):
                at = SLOTS_AT + slot * SLOT_BYTES
                fh.seek(at)
                raw = fh.read(SLOT_BYTES)
                pid = int.from_bytes(raw[:4], "little", signed=True)
                if pid > 0 and not Path(f"/proc/{pid}").exists():
                    fh.seek(at)
                    fh.write(bytes(SLOT_BYTES))
                    freed.append(raw[4:].split(b"\0")[0].decode(errors="replace"))
    except OSError:
        pass
    return freed


def clear_stale_jack_shm() -> list[str]:
    """Remove JACK's shm files left by killed servers — only when no jackd runs at all."""
    if jackd_running():
        return []
    removed = []
    for path in Path("/dev/shm").glob("jack*"):
        try:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path.name)
        except OSError:
            pass
    return removed


def realtime_threads(pid: int, priority: int = 10) -> bool:
    """Best effort: SCHED_FIFO for every thread of ``pid``.

    With ``jackd --no-realtime`` the clients' JACK threads are ordinary threads;
    on a loaded machine they miss periods ("client was not finished") and JACK
    drops that period's MIDI. A receiver must not lose messages, so when we may
    (root / rtprio limit) its threads get realtime priority.
    """
    if not hasattr(os, "sched_setscheduler"):
        return False
    ok = False
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for tid in tids:
        try:
            if os.sched_getscheduler(int(tid)) == os.SCHED_OTHER:  # keep what JACK made realtime already
                os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(priority))
            ok = True
        except OSError:
            pass
    return ok


#: the JACK servers this test process has started (conftest's rerun hook reads their logs)
STARTED: list["JackServer"] = []


class JackServer:
    """``jackd [--no-realtime] -n NAME -d dummy -r RATE -p PERIOD``; ``env`` selects it for children."""

    def __init__(self, name: str | None = None, rate: int = 48000, period: int = 64, realtime: bool = False) -> None:
        self.name = name or f"cmtb{os.getpid()}x{int(time.monotonic() * 1000) % 100000}"
        self.rate, self.period, self.realtime = rate, period, realtime
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.gettempdir()) / f"jackd-{self.name}.log"

    @property
    def env(self) -> dict:
        return _env(self.name)

    def log_mark(self) -> int:
        """Where jackd's log ends now: pass it to ``lost_periods`` to look at what happened since."""
        try:
            return len(self.log.read_text(errors="replace"))
        except OSError:
            return 0

    def lost_periods(self, since: int = 0) -> int:
        """Periods the JACK graph lost since ``since``: a client that "was not finished" or a driver XRun.

        JACK drops a period's MIDI for a client that misses it (see ``realtime_threads``), so a
        receiver can lose a message the host sent. Tests that count messages at a receiver use this to
        tell such a loss (retry) from one of ours (fail)."""
        try:
            text = self.log.read_text(errors="replace")[since:]
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if "was not finished" in line or "XRun" in line)

    def start(self, timeout: float = 15.0) -> "JackServer":
        for attempt in range(2):
            rt = ["-R", "-P", "70"] if self.realtime else ["--no-realtime"]
            cmd = ["jackd", *rt, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
            with open(self.log, "w") as log:
                self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
            if self._wait_ready(timeout):
                if self not in STARTED:
                    STARTED.append(self)
                return self
            self.stop()
            if attempt == 0 and not (reclaim_dead_jack_slots() or clear_stale_jack_shm()):
                break
        raise RuntimeError(f"jackd {self.name} did not start: {self.log.read_text()[-500:]}")

    def _wait_ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                return False
            probe = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True)
            if probe.returncode == 0 and "system:" in probe.stdout:
                return True
            time.sleep(0.1)
        return False

    def ports(self) -> list[str]:
        out = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def connect(self, source: str, destination: str, timeout: float = 10.0) -> None:
        """jack_connect, retried until both ports exist (clients register asynchronously)."""
        end = time.monotonic() + timeout
        while True:
            done = subprocess.run(["jack_connect", source, destination], env=self.env, capture_output=True, text=True)
            # jack_connect can exit 0 without connecting ("ports owned by inactive clients"): check
            if self.connected(source, destination):
                return
            if time.monotonic() > end:
                raise RuntimeError(f"jack_connect {source} {destination}: {done.stderr.strip()} (ports: {self.ports()})")
            time.sleep(0.1)

    def connected(self, source: str, destination: str) -> bool:
        out = subprocess.run(["jack_lsp", "-c", source], env=self.env, capture_output=True, text=True).stdout
        return any(line.strip() == destination for line in out.splitlines()[1:] if line.startswith((" ", "\t")))

    def stop(self) -> None:
        """SIGTERM and wait: jackd can take ~6 s to close dead clients; a kill would leak its registry slot."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self) -> "JackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass(frozen=True)
class MidiMessage:
    frames: int      # JACK frame time (since jack_midi_dump started)
    time_s: float    # frames / sample rate
    data: bytes

    @property
    def status(self) -> int:
        return self.data[0] & 0xF0 if self.data[0] < 0xF0 else self.data[0]

    @property
    def channel(self) -> int:
        return self.data[0] & 0x0F

    @property
    def is_note_on(self) -> bool:
        return self.status == 0x90 and len(self.data) == 3 and self.data[2] > 0

    @property
    def is_note_off(self) -> bool:
        return len(self.data) == 3 and (self.status == 0x80 or (self.status == 0x90 and self.data[2] == 0))


_DUMP_LINE = re.compile(r"^\s*(\d+):\s+(.*)$")
_HEX = re.compile(r"[0-9a-f]{2}")


def parse_midi_dump(text: str, rate: int = 48000) -> list[MidiMessage]:
    """Parse jack_midi_dump -a output; lines that are not messages are skipped."""
    messages = []
    for line in text.splitlines():
        match = _DUMP_LINE.match(line)
        if not match:
            continue
        data = []
        for token in match.group(2).split():
            if not _HEX.fullmatch(token):
                break
            data.append(int(token, 16))
        if data:
            frames = int(match.group(1))
            messages.append(MidiMessage(frames, frames / rate, bytes(data)))
    return messages


def retry_on_lost_periods(server: "JackServer", body: Callable[[], object], attempts: int = 3):
    """Run ``body``; when an assertion fails while the JACK graph lost periods (``lost_periods``), the
    receiver may have lost what was sent: run it again, up to ``attempts`` times. A failure with no
    period lost is ours and fails at once."""
    for attempt in range(attempts):
        mark = server.log_mark()
        try:
            return body()
        except AssertionError:
            lost = server.lost_periods(mark)
            if attempt == attempts - 1 or not lost:
                raise
            print(f"attempt {attempt + 1}: JACK lost {lost} period(s) during it; running it again")


class MidiDump:
    """``jack_midi_dump -a CLIENT`` in its own process, its input connected to ``source`` ports."""

    def __init__(self, server: JackServer, client: str | None = None) -> None:
        self.server = server
        self.client = client or f"dump{os.getpid()}x{int(time.monotonic() * 1e6) % 10**7}"
        fd, name = tempfile.mkstemp(prefix=f"{self.client}-", suffix=".txt")
        os.close(fd)
        self.path = Path(name)
        with open(self.path, "w") as out:
            cmd = ["stdbuf", "-oL", "jack_midi_dump", "-a", self.client]
            self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=server.env)
        self.port = f"{self.client}:input"

    def connect(self, source: str, timeout: float = 10.0) -> "MidiDump":
        self.server.connect(source, self.port, timeout)
        realtime_threads(self.process.pid)
        return self

    def messages(self) -> list[MidiMessage]:
        return parse_midi_dump(self.path.read_text(errors="replace"), self.server.rate)

    def wait_for(self, predicate: Callable[[list[MidiMessage]], bool], timeout: float = 10.0) -> list[MidiMessage]:
        """Poll until ``predicate(messages)`` holds; returns the messages (check them: it may have timed out)."""
        end = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if predicate(msgs) or time.monotonic() > end:
                return msgs
            time.sleep(0.05)

    def close(self) -> None:
        """SIGINT: jack_midi_dump then closes its JACK client; SIGTERM kills it uncleanly and the
        server's graph errors (dropping other clients' MIDI) until it reaps the dead client."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> "MidiDump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class OscMessage:
    time_s: float    # receive time, Unix seconds (oscdump's NTP stamp)
    address: str
    types: str
    args: tuple


def _osc_args(types: str, rest: str) -> tuple:
    tokens = shlex.split(rest) if rest else []
    out = []
    for tag, token in zip(types, tokens):
        if tag in "ihc":
            out.append(int(token))
        elif tag in "fd":
            out.append(float(token))
        else:
            out.append(token)
    return tuple(out)


def parse_oscdump(text: str) -> list[OscMessage]:
    messages = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 2 or not parts[1].startswith("/"):
            continue
        try:
            sec, frac = parts[0].split(".")
            stamp = int(sec, 16) - NTP_EPOCH + int(frac, 16) / 2**32
        except ValueError:
            stamp = float("nan")
        types = parts[2] if len(parts) > 2 else ""
        try:
            args = _osc_args(types, parts[3] if len(parts) > 3 else "")
        except ValueError:
            args = ()
        messages.append(OscMessage(stamp, parts[1], types, args))
    return messages


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OscDump:
    """``oscdump -L PORT`` in its own process (liblo-tools)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_udp_port()
        fd, name = tempfile.mkstemp(prefix=f"oscdump-{self.port}-", suffix=".txt")
        os.close(fd)
        self.path = Path(name)
        with open(self.path, "w") as out:
            self.process = subprocess.Popen(["oscdump", "-L", str(self.port)], stdout=out, stderr=subprocess.STDOUT)
        time.sleep(0.2)  # let it bind before anyone sends

    def messages(self, address: str | None = None) -> list[OscMessage]:
        msgs = parse_oscdump(self.path.read_text(errors="replace"))
        return [m for m in msgs if address is None or m.address == address]

    def wait_for(self, predicate: Callable[[list[OscMessage]], bool], timeout: float = 10.0) -> list[OscMessage]:
        end = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if predicate(msgs) or time.monotonic() > end:
                return msgs
            time.sleep(0.05)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def send_clock(port: str, segments: list[tuple[float, float]], start: bool = True, stop: bool = True,
               client: str = "clocksend") -> list[float]:
    """Send MIDI clock (24 per beat) into JACK port ``port``: ``segments`` of (bpm, seconds).

    Run in its own process (``python tests/peers.py clock PORT 100:3 140:3``); returns
    the monotonic send time of every tick (printed as JSON by the command line).
    """
    import rtmidi

    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, client)
    end = time.monotonic() + 10
    while port not in out.get_ports():
        if time.monotonic() > end:
            raise SystemExit(f"no port {port!r} in {out.get_ports()}")
        time.sleep(0.05)
    out.open_port(out.get_ports().index(port), "out")
    realtime_threads(os.getpid())  # a sender that stalls would test our luck, not the follower
    time.sleep(0.3)
    sent = []
    t = time.monotonic() + 0.05
    if start:
        out.send_message([0xFA])
    for bpm, seconds in segments:
        interval = 60.0 / (bpm * 24)
        for _ in range(int(round(seconds / interval))):
            while True:
                left = t - time.monotonic()
                if left <= 0:
                    break
                time.sleep(left - 0.001) if left > 0.0015 else None
            out.send_message([0xF8])
            sent.append(time.monotonic())
            t += interval
    if stop:
        out.send_message([0xFC])
    time.sleep(0.2)
    out.close_port()
    return sent


def link_peer(bpm: float, new_bpm: float, seconds: float) -> None:
    """An Ableton Link peer (aalink): prints JSON lines {t, tempo, beat, peers} every 50 ms;
    ``new_bpm`` is set 1 s after it first sees another peer. Run it as its own process:
    ``python tests/peers.py link 100 137 20``."""
    import asyncio
    import json

    from aalink import Link

    async def main() -> None:
        link = Link(bpm)
        link.quantum = 4
        link.enabled = True
        seen_at, pending = None, new_bpm
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            now = time.monotonic()
            if link.num_peers and seen_at is None:
                seen_at = now
            if pending and seen_at is not None and now - seen_at > 1.0:
                link.tempo, pending = pending, 0.0
            print(json.dumps({"t": time.monotonic(), "tempo": link.tempo, "beat": link.beat,
                              "peers": link.num_peers}), flush=True)
            await asyncio.sleep(0.05)
        link.enabled = False

    asyncio.run(main())


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) == 5 and sys.argv[1] == "link":
        link_peer(float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))

    if len(sys.argv) >= 4 and sys.argv[1] == "clock":
        segs = [(float(b), float(s)) for b, s in (arg.split(":") for arg in sys.argv[3:])]
        print(json.dumps(send_clock(sys.argv[2], segs)), flush=True)

"""OSC control that no datagram can kill: malformed, oversized, nested, floods (OscControl on real UDP sockets)."""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest
from pythonosc.osc_packet import OscPacket

from bridge.generator import Action, Generator, Param
from bridge.intake import Intake, is_urgent
from bridge.osc import OscControl, OscSchema, build_message
from bridge.ratelimit import RateLimit


class Synth(Generator):
    name = "synth"
    params = (Param("cutoff", float, 0.5, 0.0, 1.0), Param("steps", int, 4, 1, 16))
    actions = (Action("sample", (Param("n", int, 1, 1, 8),)),)

    def next_phrase(self):
        raise NotImplementedError


class Replies:
    """A UDP socket where the control sends its replies; collects (address, args) in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[str, list]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            for m in OscPacket(data).messages:
                self.got.append((m.message.address, list(m.message.params)))

    def of(self, address: str) -> list[list]:
        return [args for a, args in list(self.got) if a == address]

    def wait(self, cond, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def control():
    replies = Replies()
    handled: list[tuple[str, list]] = []

    def handler(entry, values):
        handled.append((entry.path, values))
        if entry.path == "/cmt/status":
            ctl.send("/cmt/status", str(ctl.stats()))

    ctl = OscControl(OscSchema({"synth": Synth}), handler, port=0, reply=("127.0.0.1", replies.port)).start()
    ctl.handled, ctl.replies = handled, replies
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.send_raw = lambda data: sender.sendto(data, ("127.0.0.1", ctl.port))
    yield ctl
    ctl.close()
    sender.close()
    replies.close()


def bundle(*datagrams: bytes) -> bytes:
    """An immediate bundle of raw elements (messages or bundles), built by hand."""
    return b"#bundle\0" + bytes(7) + b"\1" + b"".join(struct.pack(">i", len(d)) + d for d in datagrams)


def nested(depth: int, inner: bytes) -> bytes:
    for _ in range(depth):
        inner = b"#bundle\0" + bytes(8) + struct.pack(">i", len(inner)) + inner
    return inner


HOSTILE = [
    b"/\x84\xff\xfe\0\0\0\0,i\0\0\0\0\0\1",                           # address not UTF-8
    b"/cmt/\xc3\x28\0\0,f\0\0" + bytes(4),                            # invalid UTF-8 inside the address
    b"/cmt/status\0,s\0\0\xff\xfe\xfd\0",                             # string argument not UTF-8
    build_message("/cmt/synth/cutoff", [0.5])[:-3],                   # truncated
    b"/cmt/tempo\0\0,f",                                              # type tags cut off
    b"/cmt/tempo\0\0,fffffff\0" + bytes(8),                          # fewer values than tags
    b"#bundle\0" + bytes(8) + struct.pack(">i", 10_000) + b"/x",      # bundle element longer than the datagram
    nested(2000, build_message("/cmt/stop", [])),                     # bundles nested 2,000 deep
    nested(3, bytes(64)),                                             # nested bundles around junk
    b"/cmt/synth/cutoff\0\0\0,f\0\0" + b"\0" * 60000,                 # oversized (60 kB of padding)
    b"\0" * 8,
    b"",
    b"#bundle",
    bytes(range(256)),
]


def test_hostile_datagrams_are_answered_or_counted_and_control_lives(control):
    for data in HOSTILE:
        control.send_raw(data)
    time.sleep(0.3)
    control.send_raw(build_message("/cmt/status", []))
    assert control.replies.wait(lambda: control.replies.of("/cmt/status"))
    stats = control.stats()
    assert stats["malformed"] + stats["rejected"] >= len(HOSTILE) - 3   # a few parse as (odd) messages
    assert stats["handled"] + stats["failed"] == stats["received"] - stats["dropped"]
    # undecodable address: "?" (the replies travel by UDP: wait for them)
    assert control.replies.wait(lambda: any(e[0] == "?" and "malformed" in e[1]
                                            for e in control.replies.of("/cmt/error")))
    errors = control.replies.of("/cmt/error")
    assert errors and all(len(e) == 2 and "\n" not in e[1] for e in errors)
    # stop, panic, a parameter and an action still reach the handler
    for address, args in (("/cmt/stop", []), ("/cmt/panic", []), ("/cmt/synth/cutoff", [0.25]),
                          ("/cmt/synth/sample", [2])):
        control.send_raw(build_message(address, args))
    assert control.replies.wait(lambda: {"/cmt/stop", "/cmt/panic", "/cmt/synth/cutoff", "/cmt/synth/sample"}
                                <= {p for p, _ in control.handled})
    assert ("/cmt/synth/cutoff", [0.25]) in control.handled


def test_a_handler_bug_is_answered_and_the_next_message_is_served(control):
    def boom(entry, values):
        if entry.path == "/cmt/panic":
            raise KeyError("bug")
        control.handled.append((entry.path, values))

    control.handler = boom
    control.send_raw(build_message("/cmt/panic", []))
    control.send_raw(build_message("/cmt/stop", []))
    assert control.replies.wait(lambda: ("/cmt/stop", [""]) in control.handled)
    # the error reply travels by UDP: wait for it rather than read what has arrived so far
    assert control.replies.wait(lambda: any(e[0] == "/cmt/panic" and "internal error" in e[1]
                                            for e in control.replies.of("/cmt/error")))
    assert control.stats()["failed"] == 1


def test_nested_bundles_are_dispatched_message_by_message(control):
    inner = bundle(build_message("/cmt/synth/steps", [3]), build_message("/cmt/nowhere", [1]))
    control.send_raw(bundle(inner, build_message("/cmt/synth/cutoff", [0.75])))
    assert control.replies.wait(lambda: len(control.handled) == 2 and control.replies.of("/cmt/error"))
    assert sorted(control.handled) == [("/cmt/synth/cutoff", [0.75]), ("/cmt/synth/steps", [3])]
    assert control.replies.of("/cmt/error")[0][0] == "/cmt/nowhere"


def test_a_flood_of_rejections_is_reported_a_few_times_then_summarised(control, caplog):
    bad = build_message("/cmt/synth/cutoff", [float("nan")])
    unknown = [build_message(f"/cmt/junk{i}", [i]) for i in range(200)]
    with caplog.at_level("WARNING", logger="bridge.osc"):
        for i in range(3000):
            control.send_raw(bad if i % 2 else unknown[i % 200])
            if i % 200 == 0:
                time.sleep(0.005)      # do not overrun the socket buffer: this test is about reporting
        assert control.replies.wait(lambda: any("suppressed" in e[1] for e in control.replies.of("/cmt/error")),
                                    timeout=5)
    errors = control.replies.of("/cmt/error")
    assert len(errors) <= 2 * 20 + 4                     # a window or two of reports + summaries, not 3,000
    assert sum(e[0] == "/cmt/synth/cutoff" for e in errors) <= 2 * 3
    assert any("finite" in e[1] for e in errors if e[0] == "/cmt/synth/cutoff")
    summary = next(e[1] for e in errors if "suppressed" in e[1])
    assert summary.startswith("suppressed ") and "/cmt/synth/cutoff x" in summary
    assert len([r for r in caplog.records if r.name == "bridge.osc"]) <= len(errors) + 2
    stats = control.stats()
    assert stats["rejected"] + stats["dropped"] == 3000 and stats["suppressed"] > 2000


def test_urgent_control_jumps_a_full_backlog():
    intake = Intake(limit=100)
    junk = build_message("/cmt/synth/cutoff", [0.1])
    assert all(intake.put(junk) for _ in range(100))
    assert not intake.put(junk)                                  # full: refused, not queued
    for address in ("/cmt/stop", "/cmt/panic", "/cmt/status", "/cmt/tempo"):
        assert is_urgent(build_message(address, [])) and intake.put(build_message(address, []))
    assert not is_urgent(build_message("/cmt/stopper", []))
    assert OscPacket(intake.get(0.1)).messages[0].message.address == "/cmt/stop"
    assert OscPacket(intake.get(0.1)).messages[0].message.address == "/cmt/panic"
    got = [intake.get(0.05) for _ in range(103)]      # status, tempo, 100 junk, then nothing
    assert got[-1] is None and len(intake) == 0


def test_rate_limit_windows_and_summary():
    now = [0.0]
    limit = RateLimit(per_key=2, total=3, window_s=1.0, clock=lambda: now[0])
    assert [limit.allow("/a") for _ in range(3)] == [True, True, False]
    assert limit.allow("/b") is True and limit.allow("/c") is False          # total of 3 reached
    assert limit.summary() is None                                            # window not over yet
    now[0] = 1.2
    line = limit.summary()
    assert line.startswith("suppressed 2 more rejected message(s) in the last 1.2 s") and "/a x1" in line
    assert limit.allow("/a") is True and limit.summary() is None
    now[0] = 5.0
    assert limit.summary() is None and limit.suppressed_total == 2

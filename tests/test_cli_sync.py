"""/cmt/sync end to end: a DAW's song position and tempo over OSC move the running host's bar phase."""
from __future__ import annotations

import socket
import time

import pytest

from fakeplugins import ARP
from fakeplugins.running import BridgeRun
from test_cli_cc import replies, status_until


def test_sync_puts_the_hosts_bar_phase_and_tempo_on_the_daws(jack_server):
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    run = BridgeRun("--tempo", "120", plugins=(ARP,), env=jack_server.env, reply_port=reply.getsockname()[1])
    try:
        run.wait_ready()
        song, bpm = 4 * 37 + 2.25, 30.0          # Live at bar 38, beat 3.25; half a beat a second
        sent = time.monotonic()
        run.send("/cmt/sync", song, bpm)
        status = status_until(run, reply, lambda s: s["tempo"] == bpm)
        asked = time.monotonic()
        assert status["tempo"] == bpm
        # where Live is when the host answered: somewhere between sending and the answer
        lo, hi = song, song + (asked - sent) * bpm / 60
        phase = lambda b: b % 4                                                      # noqa: E731
        assert min(abs(phase(status["beat"]) - phase(x)) for x in (lo, hi, (lo + hi) / 2)) < 0.15, \
            (status["beat"], lo, hi)
        run.send("/cmt/sync", -1.0)               # out of range: refused, the clock keeps its place
        assert "beat" in replies(reply, "/cmt/error")[1]
        run.send("/cmt/sync", "x")
        assert replies(reply, "/cmt/error")
    finally:
        assert run.stop() == 0
        reply.close()


@pytest.mark.parametrize("bpm", [10.0, 301.0])
def test_sync_refuses_a_tempo_out_of_range(jack_server, bpm):
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    run = BridgeRun(plugins=(ARP,), env=jack_server.env, reply_port=reply.getsockname()[1])
    try:
        run.wait_ready()
        run.send("/cmt/sync", 8.0, bpm)
        err = replies(reply, "/cmt/error")
        assert err[0] == "/cmt/sync" and "bpm" in err[1]
    finally:
        assert run.stop() == 0
        reply.close()

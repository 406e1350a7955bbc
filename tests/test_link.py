"""Ableton Link both ways against a second Link peer (aalink) in another process."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bridge.clock import Clock

PEERS = Path(__file__).resolve().parent / "peers.py"


class Peer:
    """tests/peers.py link: a Link peer process; its JSON state lines are collected."""

    def __init__(self, bpm: float, new_bpm: float, seconds: float) -> None:
        self.process = subprocess.Popen([sys.executable, str(PEERS), "link", str(bpm), str(new_bpm), str(seconds)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.states: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.states.append(json.loads(line))
            except ValueError:
                pass

    def wait(self, predicate, timeout: float) -> dict | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.states and predicate(self.states[-1]):
                return self.states[-1]
            time.sleep(0.05)
        return None

    def close(self) -> None:
        self.process.kill()
        self.process.wait(5)


def wait_until(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_missing_aalink_is_a_clear_config_error(monkeypatch):
    from bridge import link
    from bridge.errors import ConfigError

    monkeypatch.setitem(sys.modules, "aalink", None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'cmt-bridge\[link\]'"):
        link.LinkSync(Clock())


def test_link_tempo_and_phase_both_ways():
    pytest.importorskip("aalink")
    from bridge.link import LinkSync

    clock = Clock(bpm=120)
    peer = Peer(bpm=100, new_bpm=137, seconds=40)
    try:
        with LinkSync(clock) as sync:
            if not wait_until(lambda: sync.num_peers > 0, 15):
                pytest.skip("Link peers cannot discover each other here (no multicast on loopback?)")
            # the peer joined with 100 BPM, then sets 137: the bridge follows
            assert wait_until(lambda: abs(clock.bpm - 137) < 0.01, 15), f"bridge at {clock.bpm} BPM"
            # bars line up: the host beat is Link's beat plus whole bars
            state = peer.wait(lambda s: s["tempo"] == pytest.approx(137), 5)
            assert state is not None
            offset = (clock.beat_at(state["t"]) - state["beat"]) % 4
            assert min(offset, 4 - offset) < 0.05, offset
            # the bridge changes tempo: the peer follows
            clock.set_tempo(91.5)
            state = peer.wait(lambda s: abs(s["tempo"] - 91.5) < 0.01, 15)
            assert state is not None, f"peer at {peer.states[-1]['tempo']} BPM"
            time.sleep(0.5)
            state = peer.states[-1]
            assert clock.bpm == pytest.approx(91.5)  # our own change did not bounce back
            offset = (clock.beat_at(state["t"]) - state["beat"]) % 4
            assert min(offset, 4 - offset) < 0.05, offset
    finally:
        peer.close()

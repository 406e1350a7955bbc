"""Ableton Link through ``aalink`` (optional extra ``cmt-bridge[link]``), both directions.

- A Link tempo change (any peer: Live, another app) -> ``clock.follow`` with an
  anchor whose beats keep Link's phase: the host beat is Link's beat plus a
  whole number of quanta (bars), chosen once at start so the host's beat moves
  as little as possible; bars then line up with every other Link peer.
- ``clock.set_tempo`` by the host (OSC ``/cmt/tempo``, CLI) -> Link's tempo, so
  the other peers follow the bridge.

aalink is asyncio-based: its event loop runs on a daemon thread owned by
:class:`LinkSync`; everything that touches the Link object runs on that loop.
The loop also re-checks the phase every ``CHECK_S`` and re-anchors when the
host drifted from Link by more than ``MAX_DRIFT_BEATS`` (the two use different
system clocks).
"""
from __future__ import annotations

import asyncio
import logging
import math
import threading
import time

from .clock import MAX_BPM, MIN_BPM, Anchor, Clock
from .errors import ConfigError

log = logging.getLogger(__name__)

CHECK_S = 0.5
MAX_DRIFT_BEATS = 0.005
START_TIMEOUT_S = 10.0


def _aalink():
    try:
        import aalink
    except ImportError:
        raise ConfigError("Ableton Link needs the link extra: pip install 'cmt-bridge[link]'") from None
    return aalink


class LinkSync:
    """Keep ``clock`` and an Ableton Link session in step (tempo and bar phase)."""

    def __init__(self, clock: Clock, quantum: float | None = None) -> None:
        self._aalink = _aalink()
        self.clock = clock
        self.quantum = float(quantum or clock.beats_per_bar)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._link = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing: asyncio.Event | None = None
        self._offset_beats: float | None = None  # host beat - Link beat (a whole number of quanta)
        self._error: BaseException | None = None

    # ----- life cycle -----
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="cmt-bridge-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise ConfigError("Ableton Link did not start")
        if self._error is not None:
            raise ConfigError(f"Ableton Link failed to start: {self._error}")
        self.clock.add_listener(self._on_host_anchor)

    def close(self) -> None:
        self.clock.remove_listener(self._on_host_anchor)
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._closing.set)
            thread.join(5)
        self._thread = None

    def __enter__(self) -> "LinkSync":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def num_peers(self) -> int:
        return int(self._link.num_peers) if self._link is not None else 0

    @property
    def tempo(self) -> float:
        return float(self._link.tempo) if self._link is not None else self.clock.bpm

    # ----- the loop thread -----
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported by start(); the host keeps its own clock
            self._error = err
            self._ready.set()
            log.error("Ableton Link stopped: %s", err)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        link = self._aalink.Link(self.clock.bpm)  # binds to the running loop
        link.quantum = self.quantum
        link.force_beat(self.clock.now())  # alone, Link's beats are the host's: joining moves nothing
        link.enabled = True
        link.set_tempo_callback(lambda bpm: self._follow_link())
        self._link = link
        self._ready.set()
        try:
            while not self._closing.is_set():
                if link.num_peers > 0:
                    self._follow_link(only_if_drifted=True)
                try:
                    await asyncio.wait_for(self._closing.wait(), CHECK_S)
                except asyncio.TimeoutError:
                    pass
        finally:
            link.enabled = False
            self._link = None

    def _follow_link(self, only_if_drifted: bool = False) -> None:
        """Anchor the host clock on Link's current tempo and beat (runs on the loop)."""
        link = self._link
        if link is None:
            return
        bpm = float(link.tempo)
        if not MIN_BPM <= bpm <= MAX_BPM:
            log.warning("Link tempo %.1f BPM is outside %g..%g: not followed", bpm, MIN_BPM, MAX_BPM)
            return
        now = time.monotonic()
        link_beat = float(link.beat)
        if self._offset_beats is None:  # keep the host beat where it is, to the nearest bar
            host = self.clock.beat_at(now)
            self._offset_beats = math.floor((host - link_beat) / self.quantum + 0.5) * self.quantum
        anchor = Anchor(now, link_beat + self._offset_beats, bpm)
        current = self.clock.anchor
        drift = abs(current.beat_at(now) - anchor.beat0)
        if only_if_drifted and drift < MAX_DRIFT_BEATS and abs(current.bpm - bpm) < 1e-3:
            return
        self.clock.follow(anchor)

    # ----- host -> Link -----
    def _on_host_anchor(self, anchor: Anchor) -> None:
        """Clock listener: a host tempo change goes to Link (our own follows match Link already)."""
        loop, link = self._loop, self._link
        if loop is None or link is None:
            return
        if abs(anchor.bpm - float(link.tempo)) > 1e-3:
            loop.call_soon_threadsafe(self._set_link_tempo, anchor.bpm)

    def _set_link_tempo(self, bpm: float) -> None:
        if self._link is not None and abs(float(self._link.tempo) - bpm) > 1e-3:
            self._link.tempo = bpm

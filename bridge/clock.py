"""The host clock: beats <-> monotonic seconds, from one linear anchor.

A tempo is an :class:`Anchor` — "beat ``beat0`` happens at monotonic time
``t0`` and beats pass at ``bpm``". Anchors are tiny, immutable and picklable, so
the timed output process (:mod:`bridge.transport`) gets the same mapping as the
host by receiving the anchor; nothing else about time crosses the process
boundary.

:class:`Clock` owns the current anchor. ``set_tempo`` keeps the beat position
continuous (the new anchor starts at *now*, at the beat the old anchor says it
is); ``follow`` adopts an external anchor as is (MIDI clock in, Ableton Link),
which may move the phase. Every change is reported to the listeners, e.g. the
host forwards it to ``Transport.set_anchor``.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .errors import ConfigError

log = logging.getLogger(__name__)

MIN_BPM = 20.0
MAX_BPM = 300.0


def check_bpm(bpm: float) -> float:
    """Return ``bpm`` as float, or raise ConfigError when it is outside 20..300."""
    try:
        value = float(bpm)
    except (TypeError, ValueError):
        raise ConfigError(f"tempo must be a number of BPM, got {bpm!r}") from None
    if not (MIN_BPM <= value <= MAX_BPM) or math.isnan(value):
        raise ConfigError(f"tempo must be in range {MIN_BPM:g}..{MAX_BPM:g} BPM, got {bpm!r}")
    return value


@dataclass(frozen=True)
class Anchor:
    """Beat ``beat0`` is at monotonic time ``t0`` (seconds); beats pass at ``bpm`` per minute."""

    t0: float
    beat0: float
    bpm: float

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    def beat_at(self, t: float) -> float:
        """The beat at monotonic time ``t`` (seconds)."""
        return self.beat0 + (t - self.t0) * self.bpm / 60.0

    def time_at(self, beat: float) -> float:
        """The monotonic time (seconds) of ``beat``."""
        return self.t0 + (beat - self.beat0) * 60.0 / self.bpm

    def rebased(self, t: float, bpm: float) -> "Anchor":
        """A new anchor at time ``t`` continuing this one's beat position at tempo ``bpm``."""
        return Anchor(t, self.beat_at(t), bpm)


Listener = Callable[[Anchor], None]
#: beats of phase error :meth:`Clock.align` leaves alone (about 10 ms at 120 BPM)
SYNC_TOLERANCE = 0.02


class Clock:
    """The host's musical time. Thread-safe; beat 0 is when the clock was made."""

    def __init__(self, bpm: float = 120.0, beats_per_bar: int = 4) -> None:
        if not isinstance(beats_per_bar, int) or not 1 <= beats_per_bar <= 32:
            raise ConfigError(f"beats per bar must be an integer in range 1..32, got {beats_per_bar!r}")
        self.beats_per_bar = beats_per_bar
        self._lock = threading.Lock()
        self._anchor = Anchor(time.monotonic(), 0.0, check_bpm(bpm))
        self._listeners: list[Listener] = []

    @property
    def anchor(self) -> Anchor:
        return self._anchor

    @property
    def bpm(self) -> float:
        return self._anchor.bpm

    def now(self) -> float:
        """The current beat."""
        return self._anchor.beat_at(time.monotonic())

    def time_at(self, beat: float) -> float:
        return self._anchor.time_at(beat)

    def beat_at(self, t: float) -> float:
        return self._anchor.beat_at(t)

    def set_tempo(self, bpm: float) -> Anchor:
        """Change tempo now, keeping the beat position continuous; returns the new anchor."""
        bpm = check_bpm(bpm)
        with self._lock:
            self._anchor = self._anchor.rebased(time.monotonic(), bpm)
            anchor = self._anchor
        log.debug("tempo %.2f BPM at beat %.3f", bpm, anchor.beat0)
        self._notify(anchor)
        return anchor

    def follow(self, anchor: Anchor) -> None:
        """Adopt an external anchor (MIDI clock in, Link): tempo and phase as given."""
        if not isinstance(anchor, Anchor):
            raise TypeError(f"follow() needs an Anchor, got {type(anchor).__name__}")
        check_bpm(anchor.bpm)
        with self._lock:
            self._anchor = anchor
        self._notify(anchor)

    def align(self, beat: float, bpm: float | None = None, tolerance: float = SYNC_TOLERANCE) -> float:
        """Take a DAW's song position: move the host's beat by the least amount (within half a bar,
        either way; forward when back would go before beat 0) that puts it in the same place of the
        bar as ``beat``, and take ``bpm`` when given.

        A phase error within ``tolerance`` beats is left alone, so a transport sending its position
        ten times a second corrects drift without jitter. Returns the shift applied, in beats.
        """
        if not math.isfinite(beat) or beat < 0:
            raise ConfigError(f"song position must be a finite beat >= 0, got {beat!r}")
        with self._lock:
            t = time.monotonic()
            a = self._anchor
            tempo = check_bpm(bpm) if bpm else a.bpm
            here = a.beat_at(t)
            bar = float(self.beats_per_bar)
            shift = (beat - here + bar / 2) % bar - bar / 2
            if here + shift < 0:    # just started: forward a bar rather than before beat 0
                shift += bar
            if abs(shift) <= tolerance:
                shift = 0.0
                if tempo == a.bpm:
                    return 0.0
            self._anchor = Anchor(t, here + shift, tempo)
            anchor = self._anchor
        log.debug("aligned to song position %.3f: shift %+.3f beats at %.2f BPM", beat, shift, tempo)
        self._notify(anchor)
        return shift

    def next_bar(self, beat: float | None = None, margin: float = 0.0) -> float:
        """The first bar line at or after ``(beat or now) + margin`` beats."""
        position = (self.now() if beat is None else beat) + margin
        bar = float(self.beats_per_bar)
        # the tolerance keeps a beat that is a bar line up to rounding on that bar line
        return math.ceil(position / bar - 1e-9) * bar

    def add_listener(self, cb: Listener) -> None:
        with self._lock:
            self._listeners.append(cb)

    def remove_listener(self, cb: Listener) -> None:
        with self._lock:
            if cb in self._listeners:
                self._listeners.remove(cb)

    def _notify(self, anchor: Anchor) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for cb in listeners:
            try:
                cb(anchor)
            except Exception:  # a broken listener must not stop the clock
                log.exception("clock listener %r failed", cb)

"""Rate-limited reporting: a flood of rejected messages becomes a few lines and one summary a second.

A sender in a loop (a Max bang loop, a stuck fader, a stray device) can send
thousands of wrong messages a second. Each one is still rejected, but only the
first ``per_key`` per address and ``total`` overall in each ``window_s`` are
reported (log line + ``/cmt/error``); the rest are counted, and when the window
ends :meth:`RateLimit.summary` returns one line saying how many were
suppressed and for which addresses, so the message that matters is not lost in
the scroll.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

PER_KEY = 3          # reports per address per window
TOTAL = 20           # reports per window, all addresses together
WINDOW_S = 1.0       # seconds
SHOWN_KEYS = 5       # addresses named in a summary line


class RateLimit:
    """Counts reports per key in fixed windows of ``window_s`` seconds; thread-safe."""

    def __init__(self, per_key: int = PER_KEY, total: int = TOTAL, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_key, self.total, self.window_s = per_key, total, window_s
        self.clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._sent: dict[str, int] = {}
        self._sent_total = 0
        self._suppressed: dict[str, int] = {}
        self.suppressed_total = 0     # since start, for /cmt/status

    def allow(self, key: str) -> bool:
        """True: report this one; False: it was counted for the next summary."""
        with self._lock:
            if self.clock() - self._start >= self.window_s and not self._suppressed:
                self._roll()
            n = self._sent.get(key, 0)
            if n < self.per_key and self._sent_total < self.total:
                self._sent[key] = n + 1
                self._sent_total += 1
                return True
            if key not in self._suppressed and len(self._suppressed) >= 1024:
                key = "(other addresses)"     # bound the memory a flood of random addresses can take
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            self.suppressed_total += 1
            return False

    def summary(self) -> str | None:
        """Once the window is over: one line about what was suppressed in it (None if nothing was)."""
        with self._lock:
            elapsed = self.clock() - self._start
            if elapsed < self.window_s:
                return None
            counts = self._suppressed
            self._roll()
        if not counts:
            return None
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        named = ", ".join(f"{k} x{v}" for k, v in top[:SHOWN_KEYS])
        more = f" and {len(top) - SHOWN_KEYS} more address(es)" if len(top) > SHOWN_KEYS else ""
        return (f"suppressed {sum(counts.values())} more rejected message(s) in the last {elapsed:.1f} s: "
                f"{named}{more}")

    def _roll(self) -> None:
        self._start = self.clock()
        self._sent, self._sent_total, self._suppressed = {}, 0, {}

"""A dependency-free progress bar on stderr (one line, redrawn; plain lines when not a TTY)."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, label: str, done: int = 0, every: float = 0.5) -> None:
        self.total, self.label, self.done, self.every = max(total, 1), label, done, every
        self.t0 = time.time()
        self._last = 0.0
        self.tty = sys.stderr.isatty()

    def update(self, n: int = 1, info: str = "") -> None:
        self.done += n
        now = time.time()
        if now - self._last < self.every and self.done < self.total:
            return
        self._last = now
        frac = self.done / self.total
        el = now - self.t0
        eta = el / frac - el if frac > 0 else 0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        line = f"{self.label} [{bar}] {self.done}/{self.total} {frac:5.1%} {el:5.0f}s eta {eta:4.0f}s {info}"
        if self.tty:
            sys.stderr.write("\r" + line[:150].ljust(150))
        else:
            sys.stderr.write(line[:200] + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()

"""The one progress bar of cmt-bridge: one line on stderr, redrawn on a terminal, plain lines in a log.

The trainer (data preparation, training loops) and the plugins' commands (MidiMe
learn, tagging a long file, CMT's video2midi) all use it::

    bar = Progress(total, "render", unit="clip")
    for clip in clips:
        ...
        bar.update(info=f"loss {loss:.3f}")     # one more done
    bar.close()

``bar.at(done, total, loss)`` is the callback form (``progress=bar.at``) for
code that reports "done of total" itself.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``label [#####-----] done/total unit  pct  elapsed  eta  info``; redraws at most every ``every`` s."""

    def __init__(self, total: int, label: str, done: int = 0, every: float = 0.5, unit: str = "",
                 stream: TextIO | None = None) -> None:
        self.total, self.label, self.done, self.every, self.unit = max(total, 1), label, done, every, unit
        self.stream = stream or sys.stderr
        self.t0 = time.time()
        self.start = done   # a resumed run: the rate (and so the eta) counts only work done in this sitting
        self._last = 0.0
        self.tty = self.stream.isatty()

    def update(self, n: int = 1, info: str = "") -> None:
        """``n`` more done; ``info`` is shown after the bar (a loss, a file name)."""
        self.done += n
        now = time.time()
        if now - self._last < self.every and self.done < self.total:
            return
        self._last = now
        frac = min(1.0, self.done / self.total)
        el = now - self.t0
        here = self.done - self.start
        eta = el * (self.total - self.done) / here if here > 0 else 0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        unit = f" {self.unit}" if self.unit else ""
        line = f"{self.label} [{bar}] {self.done}/{self.total}{unit} {frac:5.1%} {el:5.0f}s eta {eta:4.0f}s {info}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line[:200].rstrip() + "\n")
        self.stream.flush()

    def at(self, done: int, total: int | None = None, loss: float | None = None) -> None:
        """Callback form: ``done`` of ``total`` so far (and a loss, when training)."""
        if total is not None:
            self.total = max(total, 1)
        self.update(done - self.done, "" if loss is None else f"loss {loss:.3g}")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

"""A recording stand-in for bridge.transport.Transport (unit tests only; end-to-end tests use the real one)."""
from __future__ import annotations

import threading


class RecordingTransport:
    """Keeps every scheduled note as (generator, absolute beat, Note); applies cancel/stop like the real one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.notes: list[tuple[str, float, object]] = []
        self.calls: list[tuple] = []
        self.texts: list[tuple[str, float, str]] = []     # (generator, beat, text) of scheduled phrases
        self.anchor = None

    def schedule(self, generator, notes, at_beat, text=""):
        with self.lock:
            self.calls.append(("schedule", generator, at_beat, len(notes)))
            if text:
                self.texts.append((generator, at_beat, text))
            self.notes += [(generator, at_beat + n.start, n) for n in notes]

    def voices(self, generator, voices):
        with self.lock:
            self.calls.append(("voices", generator, dict(voices)))

    def cancel(self, generator, from_beat):
        with self.lock:
            self.calls.append(("cancel", generator, from_beat))
            self.notes = [x for x in self.notes if not (x[0] == generator and x[1] >= from_beat)]

    def stop(self, generator=None):
        with self.lock:
            self.calls.append(("stop", generator))
            self.notes = [x for x in self.notes if generator is not None and x[0] != generator]

    def panic(self):
        with self.lock:
            self.calls.append(("panic",))
            self.notes = []

    def set_anchor(self, anchor):
        self.anchor = anchor

    def sounding(self):
        return 0

    def of(self, generator):
        with self.lock:
            return [(b, n) for g, b, n in self.notes if g == generator]

    def schedules(self, generator):
        with self.lock:
            return [c for c in self.calls if c[0] == "schedule" and c[1] == generator]

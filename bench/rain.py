"""A bench-only generator: a steady rain of short notes on four channels (``per_beat`` notes a beat).

At 240 BPM and 25 notes a beat it plays 100 notes a second: the piano-roll load of bench_web.py.
"""
from __future__ import annotations

from bridge.api import Generator, Note, Param, Phrase, hookimpl


class Rain(Generator):
    name = "rain"
    description = "a steady rain of short notes on four channels (bench plugin)"
    params = (Param("per_beat", int, 25, 1, 64, unit="notes/beat", doc="notes per beat"),)

    def next_phrase(self) -> Phrase:
        beats, n = self.context.beats_per_bar, self["per_beat"]
        step = 1.0 / n
        notes = [Note(36 + (i * 7) % 60, 60 + i % 60, i * step, step * 0.8, i % 4) for i in range(beats * n)]
        return Phrase.of(notes, beats, self.name)


@hookimpl
def cmtbridge_register_generators():
    return [Rain]

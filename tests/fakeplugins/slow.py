"""A slow generator: inference takes ``delay`` seconds (lookahead and non-blocking tests)."""
from __future__ import annotations

import time

from bridge.api import Generator, Note, Param, Phrase, hookimpl


class Slow(Generator):
    name = "slow"
    description = "takes its time (test plugin)"
    params = (Param("delay", float, 0.3, 0.0, 10.0, unit="s", doc="seconds per phrase"),
              Param("warmup", float, 0.2, 0.0, 10.0, unit="s", doc="seconds in prepare()"),
              Param("channel", int, 3, 1, 16, doc="MIDI channel"))

    def prepare(self):
        time.sleep(self["warmup"])

    def next_phrase(self) -> Phrase:
        time.sleep(self["delay"])
        beats = self.context.beats_per_bar
        return Phrase.of([Note(72, 70, b, 0.5, self["channel"] - 1) for b in range(beats)], beats, self.name)


@hookimpl
def cmtbridge_register_generators():
    return [Slow]

"""A generator that plays ``ok_phrases`` phrases, then raises mid-phrase (isolation tests)."""
from __future__ import annotations

from bridge.api import Generator, Note, Param, Phrase, hookimpl


class Boom(Generator):
    name = "boom"
    description = "raises after a few phrases (test plugin)"
    params = (Param("ok_phrases", int, 1, 0, 100, doc="phrases before it raises"),
              Param("channel", int, 2, 1, 16, doc="MIDI channel"))

    def __init__(self, models=None, context=None):
        super().__init__(models, context)
        self.count = 0

    def next_phrase(self) -> Phrase:
        self.count += 1
        if self.count > self["ok_phrases"]:
            raise RuntimeError("boom: the model exploded")
        beats = self.context.beats_per_bar
        # long notes so one is sounding when the next phrase is asked for
        return Phrase.of([Note(50, 80, 0.0, beats - 0.5, self["channel"] - 1)], beats, self.name)


@hookimpl
def cmtbridge_register_generators():
    return [Boom]

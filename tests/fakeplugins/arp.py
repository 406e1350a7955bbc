"""A steady arpeggiator: one bar of eighth notes up a chord, every bar (no model)."""
from __future__ import annotations

from bridge.api import Action, Generator, Note, Param, Phrase, hookimpl

CHORD = (0, 4, 7, 12)


class Arp(Generator):
    name = "arp"
    description = "steady arpeggiator (test plugin)"
    params = (
        Param("root", int, 60, 24, 96, unit="MIDI pitch", doc="lowest note"),
        Param("velocity", int, 90, 1, 127, doc="note velocity"),
        Param("channel", int, 1, 1, 16, doc="MIDI channel"),
        Param("gate", float, 0.4, 0.05, 0.5, unit="beats", doc="note length"),
        Param("rate", int, 2, 1, 4, unit="notes/beat", doc="notes per beat"),
    )
    actions = (
        Action("burst", (Param("count", int, 4, 1, 16, doc="notes"),), doc="play a fast run from the next bar"),
    )

    def __init__(self, models=None, context=None):
        super().__init__(models, context)
        self.phrases = 0
        self.prepared = False

    def prepare(self):
        self.prepared = True

    def next_phrase(self) -> Phrase:
        self.phrases += 1
        beats = self.context.beats_per_bar
        rate = self["rate"]
        step = 1.0 / rate
        notes = [Note(self["root"] + CHORD[i % len(CHORD)], self["velocity"], i * step,
                      min(self["gate"], step * 0.9), self["channel"] - 1) for i in range(beats * rate)]
        return Phrase.of(notes, beats, self.name, index=self.phrases)

    def action_burst(self, count: int):
        notes = [Note(self["root"] + 24 + i, self["velocity"], i * 0.25, 0.2, self["channel"] - 1)
                 for i in range(count)]
        return [Phrase.of(notes, self.context.beats_per_bar, self.name, burst=count)]


@hookimpl
def cmtbridge_register_generators():
    return [Arp]

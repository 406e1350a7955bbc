"""A whole cmt-bridge plugin: a major triad a bar, walking the circle of fifths.

Try it: ``CMT_BRIDGE_PLUGINS=examples/fifths.py cmt-bridge run --play fifths``,
then ``oscsend localhost 9000 /cmt/fifths/jump i 3`` or ``/cmt/fifths/root i 43``.
It imports nothing from cmt-bridge but ``bridge.api`` (the README walks through it).
"""
from __future__ import annotations

from bridge.api import Action, Generator, Note, Param, Phrase, hookimpl

TRIAD = (0, 4, 7)   # semitones above the root: a major chord


class Fifths(Generator):
    name = "fifths"
    description = "a major triad a bar, walking the circle of fifths (example plugin)"
    params = (
        Param("root", int, 48, 24, 84, unit="MIDI pitch", doc="root of the first chord"),
        Param("velocity", int, 90, 1, 127, doc="note velocity"),
        Param("channel", int, 1, 1, 16, doc="MIDI channel"),
    )
    actions = (
        Action("jump", (Param("fifths", int, 1, 1, 11, doc="fifths to move on"),),
               doc="move around the circle from the next bar"),
    )

    def __init__(self, models=None, context=None) -> None:
        super().__init__(models, context)
        self.step = 0   # fifths walked so far

    def next_phrase(self) -> Phrase:
        """One bar: the chord ``step`` fifths above the root (folded into one octave), held for the bar."""
        bar = self.context.beats_per_bar
        root = self["root"] + (7 * self.step) % 12
        self.step += 1
        notes = [Note(root + i, self["velocity"], 0.0, bar - 0.5, self["channel"] - 1) for i in TRIAD]
        return Phrase.of(notes, bar, self.name, step=self.step)

    def action_jump(self, fifths: int) -> list[Phrase]:
        """``/cmt/fifths/jump <fifths>``: the host has already checked 1..11 and filled the default."""
        self.step += fifths
        return [self.next_phrase()]


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    return [Fifths]

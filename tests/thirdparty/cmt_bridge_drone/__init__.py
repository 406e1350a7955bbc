"""A whole third-party plugin: one generator holding a note per bar."""
from bridge.api import Generator, Note, Param, Phrase, hookimpl


class Drone(Generator):
    name = "drone"
    description = "one long note a bar (third-party test plugin)"
    params = (Param("pitch", int, 43, 0, 127, doc="MIDI pitch"), Param("channel", int, 10, 1, 16, doc="MIDI channel"))

    def next_phrase(self):
        bar = self.context.beats_per_bar
        return Phrase.of([Note(self["pitch"], 100, 0.0, bar - 0.25, self["channel"] - 1)], bar, self.name)


@hookimpl
def cmtbridge_register_generators():
    return [Drone]


@hookimpl
def cmtbridge_add_commands(subparsers):
    p = subparsers.add_parser("drone", help="say hello (third-party plugin command)")
    p.set_defaults(func=lambda args: print("drone plugin says hello") or 0)

"""A generator that plays nothing and says things, as the tagger does: a caption, tags and an embedding a bar
(and a progress report, half done)."""
from __future__ import annotations

import json

from bridge.api import Action, Generator, Param, Phrase, hookimpl


class Teller(Generator):
    name = "teller"
    description = "says a sentence, tags and a vector every bar (test plugin)"
    params = (Param("word", str, "fast", doc="the tempo word of the sentence"),)
    messages = (
        Action("tags", (Param("json", str, "{}", doc="tags by group"),), doc="every bar: tags"),
        Action("caption", (Param("text", str, ""),), doc="every bar: a sentence"),
        Action("embedding", (Param("value", float, 0.0),), doc="every bar: a vector"),
    )

    def next_phrase(self) -> Phrase:
        word = self["word"]
        self.context.send("tags", json.dumps({"bar": 1, "tags": {"tempo": [word], "instrument": ["strings", "piano"]}}))
        self.context.send("caption", f"a {word} piece for strings and piano")
        self.context.send("embedding", *[((i * 37) % 11 - 5) / 5.0 for i in range(32)])
        self.context.progress("think", 0.5)
        return Phrase.of([], self.context.beats_per_bar, self.name)


@hookimpl
def cmtbridge_register_generators():
    return [Teller]

"""A generator whose model folder does not exist: the host must name this plugin and load the others."""
from __future__ import annotations

from bridge.api import Generator, Phrase, hookimpl


class NeedsModel(Generator):
    name = "needsmodel"
    models = ("no-such-model",)

    def next_phrase(self):
        return Phrase.of([], 4.0)


@hookimpl
def cmtbridge_register_generators():
    return [NeedsModel]

"""Badly declared generators: each must be reported naming this plugin, none may load."""
from __future__ import annotations

from bridge.api import Generator, Param, Phrase, hookimpl


class NoPhrase(Generator):
    name = "nophrase"            # never implements next_phrase()


class Reserved(Generator):
    name = "play"                # a host address

    def next_phrase(self):
        return Phrase.of([], 4.0)


class Twice(Generator):
    name = "twice"
    params = (Param("x", int, 1, 0, 2), Param("x", int, 1, 0, 2))

    def next_phrase(self):
        return Phrase.of([], 4.0)


class NotAGenerator:
    name = "plain"


class Arp(Generator):
    name = "arp"                 # duplicates the arp plugin's generator

    def next_phrase(self):
        return Phrase.of([], 4.0)


class Fine(Generator):
    name = "fine"                # the one valid generator here: it still loads

    def next_phrase(self):
        return Phrase.of([], 4.0)


@hookimpl
def cmtbridge_register_generators():
    return [NoPhrase, Reserved, Twice, NotAGenerator, Arp, Fine]

"""The built-in MidiMe plugin: the "midime" generator and the ``cmt-bridge midime ...`` commands."""
from __future__ import annotations

import argparse

from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    from .generator import MidiMeGenerator

    return [MidiMeGenerator]


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .commands import add_commands

    add_commands(subparsers)

"""The built-in MidiMe plugin: the "midime" (2 bars) and "midime16" (16 bars) generators and the
``cmt-bridge midime ...`` commands."""
from __future__ import annotations

import argparse

from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    from .generator import MidiMeGenerator
    from .generator16 import MidiMe16Generator

    return [MidiMeGenerator, MidiMe16Generator]


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .commands import add_commands

    add_commands(subparsers)

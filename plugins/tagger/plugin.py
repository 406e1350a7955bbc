"""The built-in tagger plugin: the "tagger" generator and ``cmt-bridge tag``."""
from __future__ import annotations

import argparse

from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    from .generator import TaggerGenerator

    return [TaggerGenerator]


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .commands import add_commands

    add_commands(subparsers)

"""The built-in CMT plugin: the "cmt" generator and the ``cmt-bridge cmt video2midi`` command."""
from __future__ import annotations

import argparse

from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    from .generator import CMTGenerator

    return [CMTGenerator]


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .commands import add_commands

    add_commands(subparsers)

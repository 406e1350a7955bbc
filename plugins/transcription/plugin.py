"""The built-in transcription plugin: the "transcription" generator and ``cmt-bridge transcribe | synthesize``."""
from __future__ import annotations

import argparse

from bridge.api import hookimpl


@hookimpl
def cmtbridge_register_generators() -> list[type]:
    from .generator import TranscriptionGenerator

    return [TranscriptionGenerator]


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .commands import add_commands

    add_commands(subparsers)

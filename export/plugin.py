"""The trainer as a cmt-bridge plugin: adds ``data``, ``train`` and ``export-onnx`` through the command hook.

Declared in pyproject.toml under the ``cmt_bridge.plugins`` entry-point group
(``trainer = "export.plugin"``), exactly as a third-party plugin is, so the
host names no trainer module. Without the ``train`` extra the commands still
exist and say in one line how to install it.
"""
from __future__ import annotations

import argparse

from bridge import hookimpl


@hookimpl
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    from .cli import add_commands

    add_commands(subparsers)

"""Every hook a cmt-bridge plugin can implement, in one place.

A plugin is a module (or object) with functions decorated by
``bridge.api.hookimpl``; built-in generators are ordinary plugins of this kind,
third-party ones arrive through the ``cmt_bridge.plugins`` entry-point group.
"""
from __future__ import annotations

import argparse

import pluggy

PROJECT = "cmtbridge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def cmtbridge_register_generators() -> list[type]:
    """Return the Generator subclasses this plugin provides.

    The host validates each one at start-up (name, parameters, model files);
    a bad one is reported naming the plugin and skipped, the others load.
    """


@hookspec
def cmtbridge_add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``cmt-bridge`` CLI (e.g. ``cmt-bridge midime ...``).

    Set ``func=`` with ``parser.set_defaults(func=callable(args) -> int)``.
    Import heavy modules inside the callable so ``--help`` stays instant.
    """

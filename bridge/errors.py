"""The error hierarchy of cmt-bridge.

Every error a user can cause (bad input, missing file, wrong model) is a
:class:`BridgeError`; the CLI prints ``str(err)`` on one line and exits non-zero.
Anything else reaching the CLI is a bug.
"""
from __future__ import annotations


class BridgeError(Exception):
    """Base of every user-facing error: its message is one line, read by a person."""


class ConfigError(BridgeError):
    """A bad flag, config file entry or parameter value."""


class ModelError(BridgeError):
    """A model file or manifest is missing, corrupt or does not match what a plugin expects."""


class PluginError(BridgeError):
    """A plugin failed to register, validate or run."""


class InputError(BridgeError):
    """User input (a MIDI, audio or video file, an OSC message) cannot be used."""


class PortError(BridgeError):
    """A MIDI port cannot be opened, or the MIDI backend is missing."""

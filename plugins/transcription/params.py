"""The transcription generator's parameter table: the live generator and the CLI options both read it."""
from __future__ import annotations

from bridge.api import Param

from .tracking import ONSET_THRESHOLD

PARAMS = (
    Param("onset_threshold", float, ONSET_THRESHOLD, 0.05, 0.95, doc="onset probability that starts a note"),
    Param("loop", bool, False, doc="repeat the last file's notes instead of falling silent"),
    Param("channel", int, 1, 1, 16, doc="MIDI channel of the notes"),
)

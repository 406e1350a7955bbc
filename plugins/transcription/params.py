"""The transcription generator's parameter table: the live generator and the CLI options both read it."""
from __future__ import annotations

from bridge.api import Param

from .tracking import ONSET_THRESHOLD

PARAMS = (
    Param("onset_threshold", float, ONSET_THRESHOLD, 0.05, 0.95, doc="onset probability that starts a note"),
    Param("loop", bool, False, doc="repeat the last file's notes instead of falling silent"),
    Param("channel", int, 2, 1, 16, doc="MIDI channel of the notes (midime plays on 1, cmt on 3-7 and 10)"),
)

"""The cmt generator's parameter table, numpy-free: the live generator and the CLI options both read it.

The control classes are part of the token vocabulary (:mod:`plugins.cmt.tokens`
re-exports them); they live here so ``cmt-bridge --help`` builds the
``video2midi`` options without importing numpy.
"""
from __future__ import annotations

from bridge.api import Param

DENSITY_CLASSES = 8    # rhythmic density classes (onsets per beat in steps of 0.5)
STRENGTH_CLASSES = 8   # rhythmic strength classes (how many notes start together)

PARAMS = (
    Param("density", int, 3, 0, DENSITY_CLASSES - 1,
          doc="rhythmic density class of the next bars (0 sparse .. 7 busy; onsets per beat in steps of 0.5)"),
    Param("strength", int, 2, 0, STRENGTH_CLASSES - 1,
          doc="rhythmic strength class (how many notes start together: 0 single lines .. 7 thick chords)"),
    Param("control", float, 1.0, 0.0, 1.0,
          doc="CMT's C: how often the requested density/strength override the model's own (0 = ignore them)"),
    Param("guide", bool, True,
          doc="keep each bar's onsets inside its density class (off: the model alone decides how busy it is)"),
    Param("temperature", float, 1.0, 0.0, 2.0, doc="temperature of rhythm and structure (type, position)"),
    Param("top_p", float, 0.95, 0.05, 1.0, doc="nucleus sampling: keep the most likely classes up to this mass"),
    Param("pitch_temperature", float, 1.0, 0.0, 2.0, doc="temperature of pitches (0 = the most likely)"),
    Param("duration_temperature", float, 1.0, 0.0, 2.0, doc="temperature of note lengths"),
    Param("instrument_temperature", float, 1.0, 0.0, 2.0, doc="temperature of which instrument plays"),
    Param("seed", int, -1, -1, 2 ** 31 - 1, doc="random seed (-1 = new randomness every time)"),
)

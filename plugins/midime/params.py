"""The midime generator's parameter table, numpy-free: the live generator and the CLI options both read it."""
from __future__ import annotations

from bridge.api import ConfigError, Param

from . import styles
from .keys import KEYS, OFF, SCALES


def _even(bars: int) -> None:
    if bars % 2:
        raise ConfigError(f"bars must be even (2-bar phrases), got {bars}")


PARAMS = (
    Param("temperature", float, 0.5, 0.0, 2.0, doc="sampling temperature (0 = the most likely notes)"),
    Param("variations", int, 4, 1, 16, unit="phrases", doc="phrases per sample action and queue refill"),
    Param("steps", int, 5, 1, 16, unit="phrases", doc="phrases of an interpolation, end points included"),
    Param("bars", int, 8, 2, 16, unit="bars", doc="bars of recent MIDI input that learn uses (even)",
          check=_even),
    Param("seed", int, -1, -1, 2 ** 31 - 1,
          doc="random seed (-1 = a fresh one each time, shown: set it to make the music again)"),
    Param("channel", int, 1, 1, 16, doc="MIDI channel of the phrases"),
    Param("phrases", int, 1, 1, 16, unit="phrases",
          doc="phrases per melody: a sample is this many phrases in a row, from nearby latents"),
    Param("key", str, OFF, doc="every phrase of a sample in this key (transposed, then snapped); off = "
          "the model's own", choices=KEYS),
    Param("scale", str, "major", doc="the scale of key", choices=tuple(SCALES)),
    Param("register", int, 0, 0, 108, unit="MIDI pitch",
          doc="centre each melody's median pitch here (0 = the model's own; by octaves when a key is set)"),
    Param("style", str, "", doc="personal MidiMe model: a name from the menu (/cmt/midime/styles, cmt-bridge "
          "midime styles) or a .midime path; \"\" = plain MusicVAE", check=styles.check),
)

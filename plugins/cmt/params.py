"""The cmt generator's parameter table, numpy-free: the live generator and the CLI options both read it.

The control classes are part of the token vocabulary (:mod:`plugins.cmt.tokens`
re-exports them); they live here so ``cmt-bridge --help`` builds the
``video2midi`` options without importing numpy. So do the part names and their
default MIDI channels: a block of their own (3..7, drums on 10), away from
midime (1) and transcription (2). Each part has its own ``<part>_channel``
parameter (a number box in Max, a CC; 0 switches the part off); the command
line also takes the whole map at once (``--channels lead=11,bass=12``,
``--parts lead,bass``).
"""
from __future__ import annotations

from bridge.api import ConfigError, Param

DENSITY_CLASSES = 8    # rhythmic density classes (onsets per beat in steps of 0.5)
STRENGTH_CLASSES = 8   # rhythmic strength classes (how many notes start together)

PART_NAMES = ("lead", "strings", "piano", "bass", "guitar", "drums")
DEFAULT_CHANNELS = {"lead": 3, "strings": 4, "piano": 5, "bass": 6, "guitar": 7, "drums": 10}   # 1..16


def parse_channels(text: str) -> dict[str, int]:
    """``"lead=3,bass=6"`` (``--channels``) -> ``{part: channel 1..16}`` over :data:`DEFAULT_CHANNELS`
    (parts not named keep theirs); ConfigError naming the bad entry."""
    out = dict(DEFAULT_CHANNELS)
    for item in (x.strip() for x in str(text).replace(";", ",").split(",")):
        if not item:
            continue
        part, sep, value = (s.strip() for s in item.partition("="))
        if not sep or part not in out:
            raise ConfigError(f"channels: {item!r} must be PART=CHANNEL with PART one of {', '.join(PART_NAMES)}")
        try:
            ch = int(value)
        except ValueError:
            raise ConfigError(f"channels: {item!r}: the channel must be a number 1..16") from None
        if not 1 <= ch <= 16:
            raise ConfigError(f"channels: {item!r}: the channel must be in range 1..16")
        out[part] = ch
    return out


def parse_parts(text: str) -> tuple[str, ...]:
    """``"lead,bass"`` (``--parts``) -> the parts that play (``"all"`` or ``""``: every part); ConfigError naming a bad one."""
    names = [x.strip() for x in str(text).replace(";", ",").replace(" ", ",").split(",") if x.strip()]
    if not names or names == ["all"]:
        return PART_NAMES
    bad = [n for n in names if n not in PART_NAMES]
    if bad:
        raise ConfigError(f"parts: no part {bad[0]!r} (have: {', '.join(PART_NAMES)}, or all)")
    return tuple(p for p in PART_NAMES if p in names)


def format_channels(channels: dict[str, int]) -> str:
    return ",".join(f"{p}={channels[p]}" for p in PART_NAMES if p in channels)


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
    Param("seed", int, -1, -1, 2 ** 31 - 1, doc="random seed (-1 = a new one, shown in /cmt/status)"),
    Param("arrange", bool, True,
          doc="keep each part in its instrument's register and role (bass below the harmony, one lead "
              "note at a time, chord sizes per part); off: the model's notes as sampled"),
    Param("velocity", int, 80, 1, 127, unit="MIDI velocity", doc="loudness of the music (each part balanced around it)"),
    Param("accent", float, 0.5, 0.0, 1.0,
          doc="dynamics: how much downbeats and strong (chordal) bars stand out (0 = every note at velocity)"),
    Param("sensitivity", float, 1.0, 0.05, 20.0,
          doc="motion sensitivity of video and camera (below 1: calmer, ignores sensor noise; above 1: busier)"),
    # one number box per part (a Max/Live panel, a MIDI CC): the part -> channel map; 0 = the part is off
    *(Param(f"{part}_channel", int, DEFAULT_CHANNELS[part], 0, 16,
            doc=f"MIDI channel of the {part} part (0 = the {part} is off)") for part in PART_NAMES),
)


def channels_of(values: dict) -> dict[str, int]:
    """``{part: channel 1..16}`` of the parts switched on (channel 0 = off), from a generator's values."""
    return {p: int(values[f"{p}_channel"]) for p in PART_NAMES if values[f"{p}_channel"] > 0}

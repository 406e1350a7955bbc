"""Musical events in beats: what generators make and the scheduler plays.

Generators never see seconds: a :class:`Note` starts at ``start`` beats from the
beginning of its :class:`Phrase` and lasts ``duration`` beats. Only the
scheduler turns beats into seconds, from one monotonic clock.

Channels are 0..15 inside the code; everything a user sees (OSC, CLI, config)
counts them 1..16.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Note:
    """One note: MIDI pitch 0..127, velocity 1..127, start and duration in beats, channel 0..15."""

    pitch: int
    velocity: int
    start: float
    duration: float
    channel: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"pitch must be in range 0..127, got {self.pitch}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"velocity must be in range 1..127, got {self.velocity}")
        if not 0 <= self.channel <= 15:
            raise ValueError(f"channel must be in range 0..15, got {self.channel}")
        if self.duration <= 0:
            raise ValueError(f"duration must be > 0 beats, got {self.duration}")
        if self.start < 0:
            raise ValueError(f"start must be >= 0 beats, got {self.start}")

    @property
    def end(self) -> float:
        return self.start + self.duration

    def shifted(self, beats: float) -> "Note":
        return Note(self.pitch, self.velocity, self.start + beats, self.duration, self.channel)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Notes to play as one unit, ``length`` beats long (e.g. 8.0 = two bars of 4/4).

    ``meta`` carries what a generator wants reported (seed, temperature, ...).
    """

    notes: tuple[Note, ...]
    length: float
    generator: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.length <= 0:
            raise ValueError(f"phrase length must be > 0 beats, got {self.length}")

    @classmethod
    def of(cls, notes, length: float, generator: str = "", **meta) -> "Phrase":
        return cls(tuple(sorted(notes, key=lambda n: (n.start, n.pitch))), float(length), generator, meta)


@dataclass(frozen=True, slots=True)
class InputNote:
    """A note played into the host's MIDI input, in host beats (``end`` None while held)."""

    pitch: int
    velocity: int
    start: float
    end: float | None
    channel: int = 0

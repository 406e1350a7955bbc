"""Each CMT part plays its instrument: register, role, chord size, channel and dynamics.

The model decides rhythm, harmony and which instrument plays, but it has no idea
of a flute's range or of a bass line: sampled freely, the "bass" climbs above
the strings and stacks chords, the flute drops to E2. :func:`arrange` turns one
bar of sampled notes into parts a musician expects, after the sampler and before
the notes reach the host or a file:

1. parts switched off are dropped; each part goes to its MIDI channel;
2. pitches fold by octaves into the part's range (:class:`PartRule` ``low`` .. ``high``);
3. notes starting together in one part are limited to ``max_chord`` (a melody keeps
   its top note, a bass its lowest, harmony an even spread) and unisons merge;
4. the bass sits below the harmony: a bass note at or above the lowest other
   pitch sounding at its start moves down by octaves (not below its range);
5. melody and bass are single lines: a note ends where the part's next one starts;
6. velocity: ``velocity`` plus the part's balance, plus ``accent`` times a
   metrical accent (downbeat, beat, off-beat) and the bar's strength class.

The rules are the model's: the CMT manifest carries them (``parts``), and
:data:`DEFAULT_RULES` is what a manifest without them gets.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

from bridge.api import ModelError, Note

from .params import DEFAULT_CHANNELS, PART_NAMES, STRENGTH_CLASSES

log = logging.getLogger(__name__)

ROLES = ("melody", "harmony", "bass", "drums")
ACCENT_DOWNBEAT, ACCENT_BEAT, ACCENT_OFFBEAT = 12, 6, 0   # velocity steps at accent 1
ACCENT_STRENGTH = 3                                       # velocity steps per strength class from the middle, at accent 1


@dataclass(frozen=True)
class PartRule:
    """What one part may play: range (MIDI pitches), notes starting together, role, velocity balance."""

    name: str
    low: int
    high: int
    max_chord: int
    role: str
    balance: int = 0      # velocity steps added to the generator's velocity

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ModelError(f"part {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if not 0 <= self.low <= self.high <= 127 or self.max_chord < 1:
            raise ModelError(f"part {self.name}: needs 0 <= low <= high <= 127 and max_chord >= 1")

    def describe(self) -> dict:
        return {"low": self.low, "high": self.high, "max_chord": self.max_chord, "role": self.role,
                "balance": self.balance}


DEFAULT_RULES: dict[str, PartRule] = {r.name: r for r in (
    PartRule("lead", 60, 96, 1, "melody", 8),        # flute: C4..C7
    PartRule("strings", 43, 84, 4, "harmony", -8),   # string ensemble: G2..C6, four voices
    PartRule("piano", 36, 96, 5, "harmony", -4),
    PartRule("bass", 28, 55, 1, "bass", 2),          # acoustic bass: E1..G3, one note at a time
    PartRule("guitar", 40, 81, 4, "harmony", -8),    # nylon guitar: E2..A5
    PartRule("drums", 35, 81, 3, "drums", 0),        # GM percussion keys
)}


def rules_from_manifest(manifest: dict) -> dict[str, PartRule]:
    """The part rules of a CMT model (manifest ``parts``), :data:`DEFAULT_RULES` for parts it does not name."""
    rules = dict(DEFAULT_RULES)
    for name, spec in (manifest.get("parts") or {}).items():
        if name not in PART_NAMES:
            raise ModelError(f"CMT manifest: unknown part {name!r} in 'parts' (have: {', '.join(PART_NAMES)})")
        try:
            rules[name] = PartRule(name, int(spec["low"]), int(spec["high"]), int(spec["max_chord"]),
                                   str(spec["role"]), int(spec.get("balance", 0)))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"CMT manifest: part {name}: {type(e).__name__}: {e}") from None
    return rules


def fold(pitch: int, low: int, high: int) -> int:
    """``pitch`` moved by octaves into ``low..high`` (clipped when the range is under an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return min(max(pitch, low), high)


def _chord(pitches: list[int], n: int, role: str) -> list[int]:
    """At most ``n`` of the distinct ``pitches`` (sorted): top for a melody, bottom for a bass, a spread else."""
    ps = sorted(set(pitches))
    if len(ps) <= n:
        return ps
    if role == "melody":
        return ps[-n:]
    if role == "bass":
        return ps[:n]
    if n == 1:
        return [ps[0]]
    return sorted({ps[round(i * (len(ps) - 1) / (n - 1))] for i in range(n)})


def metric_accent(start: float, beats_per_bar: float) -> int:
    """Velocity steps (at accent 1) for a note starting ``start`` beats into its bar."""
    if abs(start) < 1e-6:
        return ACCENT_DOWNBEAT
    if abs(start - round(start)) < 1e-6:
        return ACCENT_BEAT
    return ACCENT_OFFBEAT


def arrange(notes: dict[str, list[Note]], *, rules: dict[str, PartRule] | None = None,
            channels: dict[str, int] | None = None, parts: Iterable[str] = PART_NAMES,
            velocity: int = 80, accent: float = 0.5, strength: int = 2, beats_per_bar: float = 4.0,
            enforce: bool = True) -> dict[str, list[Note]]:
    """One bar of notes per part (beats from the bar line) -> the notes to play, per part.

    ``channels``: part -> MIDI channel 1..16 (default :data:`DEFAULT_CHANNELS`); ``parts``: the parts
    that play; ``enforce`` off keeps the sampled pitches and chords (channels and velocities still apply).
    """
    rules = rules or DEFAULT_RULES
    channels = {**DEFAULT_CHANNELS, **(channels or {})}
    keep = set(parts)
    out: dict[str, list[Note]] = {}
    for name, part in notes.items():
        if name not in keep or not part:
            continue
        rule = rules.get(name) or DEFAULT_RULES[name]
        if not enforce:
            out[name] = list(part)
            continue
        by_onset: dict[float, list[Note]] = {}
        for n in part:
            pitch = n.pitch if rule.role == "drums" else fold(n.pitch, rule.low, rule.high)
            by_onset.setdefault(round(n.start, 6), []).append(Note(pitch, n.velocity, n.start, n.duration, n.channel))
        chosen = []
        for _start, group in sorted(by_onset.items()):
            longest = {}
            for n in group:      # unisons merge: the longest one stays
                if n.pitch not in longest or n.duration > longest[n.pitch].duration:
                    longest[n.pitch] = n
            chosen += [longest[p] for p in _chord(list(longest), rule.max_chord, rule.role)]
        out[name] = chosen
    if enforce and "bass" in out:
        out["bass"] = _below_harmony(out["bass"], [n for k, v in out.items() if k not in ("bass", "drums") for n in v],
                                     rules.get("bass") or DEFAULT_RULES["bass"])
    final: dict[str, list[Note]] = {}
    lift = accent * ACCENT_STRENGTH * (int(strength) - STRENGTH_CLASSES // 2 + 1)
    for name, part in out.items():
        rule = rules.get(name) or DEFAULT_RULES[name]
        part = sorted(part, key=lambda n: (n.start, n.pitch))
        if enforce and rule.role in ("melody", "bass"):
            part = _single_line(part)
        ch = channels[name] - 1
        final[name] = [Note(n.pitch, int(min(127, max(1, round(velocity + rule.balance + lift
                                                              + accent * metric_accent(n.start, beats_per_bar))))),
                            n.start, n.duration, ch) for n in part]
    return final


def _below_harmony(bass: list[Note], others: list[Note], rule: PartRule) -> list[Note]:
    """Bass notes moved down by octaves until below the lowest other pitch sounding at their start."""
    out = []
    for n in bass:
        sounding = [o.pitch for o in others if o.start <= n.start + 1e-6 < o.start + o.duration]
        floor = min(sounding) if sounding else None
        pitch = n.pitch
        while floor is not None and pitch >= floor and pitch - 12 >= rule.low:
            pitch -= 12
        out.append(Note(pitch, n.velocity, n.start, n.duration, n.channel))
    return out


def _single_line(part: list[Note]) -> list[Note]:
    """A note ends where the next one of the part starts (sorted by start; one note per onset)."""
    out = []
    for i, n in enumerate(part):
        nxt = next((m.start for m in part[i + 1:] if m.start > n.start + 1e-6), None)
        dur = n.duration if nxt is None else min(n.duration, nxt - n.start)
        out.append(Note(n.pitch, n.velocity, n.start, dur, n.channel))
    return out


def registers(notes: dict[str, list[Note]]) -> dict[str, tuple[int, int, int]]:
    """(lowest, highest, most notes starting together) per part, for logs and benchmarks."""
    out = {}
    for name, part in notes.items():
        if part:
            starts: dict[float, int] = {}
            for n in part:
                starts[round(n.start, 6)] = starts.get(round(n.start, 6), 0) + 1
            out[name] = (min(n.pitch for n in part), max(n.pitch for n in part), max(starts.values()))
    return out

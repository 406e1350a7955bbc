"""Key, scale and register for decoded melodies: every phrase of a sample in one key, centred where you ask.

MusicVAE samples come in whatever key and register the latent gives (the
shipped model's median pitch is about 70, each phrase in another key). With a
``key`` set, each decoded phrase is first **transposed** as a whole to the
shift (-6..+5 semitones) that puts the most of its notes (weighted by
duration) into the scale, so its contour and intervals stay as the model made
them; the few notes still outside the scale are then **snapped** to the nearest
scale tone (a tie goes toward the previous note). Every note ends in the scale.

``register`` (a MIDI pitch, 0 = off) centres a melody's median pitch: by whole
octaves when a key is set (the key stays; the median lands within 6 semitones
of the register), by semitones otherwise (the median lands on it). A melody of
several phrases moves as one, so its line never jumps an octave between
phrases. Works on notes of any length (2-bar or 16-bar models alike).
"""
from __future__ import annotations

from typing import Sequence

from bridge.api import ConfigError, Note

OFF = "off"
#: key names, sharps and flats as musicians write them most
KEYS = (OFF, "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb"}
#: scale name -> semitones above the key's tonic
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}


def tonic(key: str) -> int:
    """Pitch class 0..11 of ``key`` ("C".."B", flats and sharps); ConfigError otherwise."""
    key = _ALIASES.get(key, key)
    if key not in KEYS[1:]:
        raise ConfigError(f"key must be one of {', '.join(KEYS)}, got {key!r}")
    return KEYS.index(key) - 1


def pitch_classes(key: str, scale: str) -> frozenset[int]:
    """The pitch classes of ``scale`` on ``key`` (e.g. D minor -> {2, 4, 5, 7, 9, 10, 0})."""
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    t = tonic(key)
    return frozenset((t + s) % 12 for s in SCALES[scale])


def in_scale_share(notes: Sequence[Note], pcs: frozenset[int]) -> float:
    """Share of ``notes`` whose pitch class is in ``pcs`` (1.0 for no notes)."""
    return sum(n.pitch % 12 in pcs for n in notes) / len(notes) if notes else 1.0


def best_shift(notes: Sequence[Note], pcs: frozenset[int]) -> int:
    """The transposition -6..+5 that puts the most note duration into ``pcs`` (ties: the smallest move)."""
    def fit(shift: int) -> float:
        return sum(n.duration for n in notes if (n.pitch + shift) % 12 in pcs)

    return max(sorted(range(-6, 6), key=abs), key=fit)  # max keeps the first best: the smallest |shift|


def snap(pitch: int, pcs: frozenset[int], toward: int | None = None) -> int:
    """The scale tone nearest ``pitch`` (itself when in the scale); a tie goes toward ``toward``."""
    if pitch % 12 in pcs:
        return pitch
    for d in range(1, 7):
        down, up = pitch - d, pitch + d
        hits = [p for p in (down, up) if p % 12 in pcs and 0 <= p <= 127]
        if len(hits) == 2:
            return up if toward is not None and toward > pitch else down
        if hits:
            return hits[0]
    return pitch


def _fold(pitch: int) -> int:
    while pitch < 0:
        pitch += 12
    while pitch > 127:
        pitch -= 12
    return pitch


def _with_pitch(n: Note, pitch: int) -> Note:
    return Note(_fold(pitch), n.velocity, n.start, n.duration, n.channel)


def to_key(notes: Sequence[Note], pcs: frozenset[int]) -> list[Note]:
    """Transpose ``notes`` to the best-fitting shift, then snap what is left outside ``pcs``."""
    shift = best_shift(notes, pcs)
    out: list[Note] = []
    prev = None
    for n in sorted(notes, key=lambda n: n.start):
        p = snap(_fold(n.pitch + shift), pcs, prev)
        out.append(_with_pitch(n, p))
        prev = p
    return out


def median_pitch(notes: Sequence[Note]) -> float:
    ps = sorted(n.pitch for n in notes)
    if not ps:
        return 0.0
    mid = len(ps) // 2
    return float(ps[mid]) if len(ps) % 2 else (ps[mid - 1] + ps[mid]) / 2.0


def register_shift(notes: Sequence[Note], register: int, octaves: bool) -> int:
    """Semitones that bring the median pitch of ``notes`` to ``register`` (whole octaves if ``octaves``)."""
    if not notes or register <= 0:
        return 0
    gap = register - median_pitch(notes)
    return 12 * round(gap / 12) if octaves else int(round(gap))


def shape(phrases: Sequence[Sequence[Note]], key: str = OFF, scale: str = "major",
          register: int = 0) -> list[list[Note]]:
    """One melody's phrases in ``key``/``scale`` (each phrase transposed, then snapped), centred on ``register``.

    ``key`` "off" leaves pitches alone; ``register`` 0 leaves the register alone.
    """
    out = [list(p) for p in phrases]
    keyed = key != OFF
    if keyed:
        pcs = pitch_classes(key, scale)
        out = [to_key(p, pcs) for p in out]
    every = [n for p in out for n in p]
    shift = register_shift(every, register, octaves=keyed)
    if shift:
        out = [[_with_pitch(n, n.pitch + shift) for n in p] for p in out]
    return out

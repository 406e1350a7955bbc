"""The 2-bar melody representation shared by the trainer and the runtime.

MusicVAE's melody classes on a 16th-note grid: per step one token,
``REST`` (note-off / silence), ``HOLD`` (the sounding note or rest goes on), or
a note-on of one pitch in MIN_PITCH..MAX_PITCH. 32 steps = 2 bars of 4/4.
The decoder is fed ``START`` before its first step.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from bridge.api import InputError, Note

STEPS_PER_BEAT = 4
BEATS_PER_BAR = 4
BARS = 2
STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR
STEPS = STEPS_PER_BAR * BARS  # 32
PHRASE_BEATS = float(BEATS_PER_BAR * BARS)  # 8.0

REST = 0
HOLD = 1
MIN_PITCH = 48  # C3
MAX_PITCH = 96  # C7
NUM_CLASSES = 2 + MAX_PITCH - MIN_PITCH + 1  # 51 output classes
START = NUM_CLASSES  # decoder input at step 0 (input vocabulary = NUM_CLASSES + 1)


def pitch_token(pitch: int) -> int:
    if not MIN_PITCH <= pitch <= MAX_PITCH:
        raise InputError(f"pitch {pitch} is outside the model's range {MIN_PITCH}..{MAX_PITCH}")
    return 2 + pitch - MIN_PITCH


def token_pitch(token: int) -> int | None:
    """The MIDI pitch of a note-on token, None for REST / HOLD."""
    return None if token < 2 else MIN_PITCH + token - 2


def tokens_from_notes(notes: Iterable[Note], steps: int = STEPS, transpose: int = 0) -> np.ndarray:
    """Quantise monophonic ``notes`` (beats, from 0) onto ``steps`` 16ths.

    A note starting while another sounds cuts it (a melody has one voice);
    notes quantised onto the same step keep the highest. Pitches are folded by
    octaves into the model's range.
    """
    onsets: dict[int, tuple[int, int]] = {}
    for n in notes:
        s = int(round(n.start * STEPS_PER_BEAT))
        e = max(s + 1, int(round(n.end * STEPS_PER_BEAT)))
        if s >= steps or s < 0:
            continue
        p = n.pitch + transpose
        while p < MIN_PITCH:
            p += 12
        while p > MAX_PITCH:
            p -= 12
        if s not in onsets or p > onsets[s][0]:
            onsets[s] = (p, min(e, steps))
    out = np.full(steps, HOLD, dtype=np.int64)
    sounding_until = 0
    playing = False
    for step in range(steps):
        if step in onsets:
            p, e = onsets[step]
            out[step] = pitch_token(p)
            sounding_until, playing = e, True
        elif playing and step >= sounding_until:
            out[step] = REST
            playing = False
        elif step == 0:
            out[step] = REST
    return out


def notes_from_tokens(tokens: Sequence[int], velocity: int = 90, channel: int = 0, offset: float = 0.0) -> list[Note]:
    """Turn tokens back into notes (beats from ``offset``)."""
    notes: list[Note] = []
    cur_pitch, cur_start = None, 0
    step_beats = 1.0 / STEPS_PER_BEAT

    def close(end_step: int) -> None:
        if cur_pitch is not None:
            notes.append(Note(cur_pitch, velocity, offset + cur_start * step_beats,
                              (end_step - cur_start) * step_beats, channel))

    for step, tok in enumerate(int(t) for t in tokens):
        if tok == HOLD:
            continue
        close(step)
        cur_pitch = token_pitch(tok)
        cur_start = step
    close(len(tokens))
    return notes


def is_usable(tokens: np.ndarray, min_notes: int = 2) -> bool:
    """A window worth learning from: at least ``min_notes`` onsets."""
    return int((tokens >= 2).sum()) >= min_notes


def transpose(tokens: np.ndarray, semitones: int) -> np.ndarray | None:
    """Transpose note-on tokens, or None when a note would leave the range."""
    out = tokens.copy()
    on = out >= 2
    out[on] += semitones
    if on.any() and (out[on].min() < 2 or out[on].max() >= NUM_CLASSES):
        return None
    return out


def windows(tokens: np.ndarray, hop: int = STEPS_PER_BAR, min_notes: int = 2,
            steps: int = STEPS) -> list[np.ndarray]:
    """Windows of ``steps`` 16ths (2 bars by default) of a whole melody's tokens, one every ``hop`` 16ths.

    A window that starts on HOLD inherits an unknown note: it is turned into REST
    (the note began before the window).
    """
    out = []
    for start in range(0, len(tokens) - steps + 1, hop):
        w = tokens[start:start + steps].copy()
        if w[0] == HOLD:
            w[0] = REST
        if is_usable(w, min_notes):
            out.append(w)
    return out

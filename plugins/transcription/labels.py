"""The symbolic side of the paper's model: per-frame pitch class, octave, dynamics and instrument labels.

A frame is silent (class :data:`NONE` for pitch class and octave) or sounds
one MIDI pitch ``12 * (octave + OCTAVE_MIN) + pitch_class``. Dynamics are four
velocity classes (pp, mp, mf, f). The five instruments are the paper's, with
their General MIDI programs and the registers we render them in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bridge.api import InputError

PITCH_CLASSES = 12
NONE_PC = PITCH_CLASSES  # "no pitch" class index of the pitch-class head
OCTAVE_MIN = 2  # MIDI octave index 2 = MIDI 24..35 (C1..B1); we use 3..8 in practice
OCTAVES = 7  # MIDI 24..107
NONE_OCT = OCTAVES
MIN_NOTE = 12 * OCTAVE_MIN
MAX_NOTE = 12 * (OCTAVE_MIN + OCTAVES) - 1
DYNAMICS = ("pp", "mp", "mf", "f")
DYNAMIC_EDGES = (50, 75, 100)  # velocity < 50 -> pp, < 75 -> mp, < 100 -> mf, else f
DYNAMIC_VELOCITY = (40, 64, 88, 112)  # the velocity a transcribed note gets per class


@dataclass(frozen=True)
class Instrument:
    name: str
    program: int  # General MIDI, 0-based
    low: int  # the register we render (MIDI)
    high: int


INSTRUMENTS = (
    Instrument("flute", 73, 60, 96),
    Instrument("piano", 0, 40, 96),
    Instrument("alto_sax", 65, 49, 80),
    Instrument("trumpet", 56, 54, 84),
    Instrument("violin", 40, 55, 96),
)
INSTRUMENT_NAMES = tuple(i.name for i in INSTRUMENTS)
SYMBOL_SIZE = (PITCH_CLASSES + 1) + (OCTAVES + 1) + len(DYNAMICS) + len(INSTRUMENTS)  # one-hot width


def instrument(name: str) -> Instrument:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    key = {"sax": "alto_sax", "altosax": "alto_sax"}.get(key, key)
    for inst in INSTRUMENTS:
        if inst.name == key:
            return inst
    raise InputError(f"unknown instrument {name!r} (have: {', '.join(INSTRUMENT_NAMES)})")


def dynamic_class(velocity: np.ndarray | int) -> np.ndarray:
    return np.searchsorted(np.asarray(DYNAMIC_EDGES), np.asarray(velocity), side="right")


def split_pitch(midi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MIDI pitches (-1 = silence) -> (pitch class, octave) indices with NONE for silence."""
    midi = np.asarray(midi, np.int64)
    silent = (midi < MIN_NOTE) | (midi > MAX_NOTE)
    pc = np.where(silent, NONE_PC, midi % 12)
    octave = np.where(silent, NONE_OCT, midi // 12 - OCTAVE_MIN)
    return pc, octave


def symbols_onehot(pitch: np.ndarray, dynamic: np.ndarray, instrument_index: np.ndarray) -> np.ndarray:
    """[N, SYMBOL_SIZE] float32: the symbol VAE's input (MIDI pitch -1 = silence)."""
    pc, octave = split_pitch(pitch)
    n = len(pc)
    out = np.zeros((n, SYMBOL_SIZE), np.float32)
    rows = np.arange(n)
    out[rows, pc] = 1.0
    out[rows, PITCH_CLASSES + 1 + octave] = 1.0
    base = PITCH_CLASSES + 1 + OCTAVES + 1
    out[rows, base + np.asarray(dynamic, np.int64)] = 1.0
    out[rows, base + len(DYNAMICS) + np.asarray(instrument_index, np.int64)] = 1.0
    return out


def joint_pitch_logprob(pc_logp: np.ndarray, oct_logp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: log-probability of every MIDI pitch MIN_NOTE..MAX_NOTE (pitch class + octave), and of silence."""
    pcs = np.arange(MIN_NOTE, MAX_NOTE + 1) % 12
    octs = np.arange(MIN_NOTE, MAX_NOTE + 1) // 12 - OCTAVE_MIN
    pitched = pc_logp[:, pcs] + oct_logp[:, octs]
    silence = pc_logp[:, NONE_PC]
    return pitched, silence

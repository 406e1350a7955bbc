"""Samples as melodies: ``phrases`` phrases in a row from nearby latents, in one key and register.

Shared by the live generator and ``cmt-bridge midime sample``, so both make
the same melodies from the same seed. A melody's phrase latents walk through
the prior (each the last one times :data:`CONTINUITY` plus fresh noise, so each
is still N(0, I)): consecutive phrases are related, not copies. With one
phrase per melody this draws exactly what ``MusicVAE.sample`` draws. Lengths
come from the tokens (``len / STEPS_PER_BEAT`` beats), so a longer model's
phrases work unchanged.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from bridge.api import Note

from . import keys, melody

if TYPE_CHECKING:
    from .midime import MidiMe
    from .vae import MusicVAE

CONTINUITY = 0.6  # correlation of consecutive phrase latents within one melody (0 = independent)


def walk(n: int, phrases: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` latent walks of ``phrases`` steps: float [n * phrases, dim], each row N(0, I)."""
    z = rng.standard_normal((int(n), int(phrases), int(dim)))
    fresh = math.sqrt(1.0 - CONTINUITY ** 2)
    for k in range(1, int(phrases)):
        z[:, k] = CONTINUITY * z[:, k - 1] + fresh * z[:, k]
    return z.reshape(-1, int(dim))


def melodies(vae: "MusicVAE", n: int, phrases: int, temperature: float, rng: np.random.Generator,
             personal: "MidiMe | None" = None, form: str | None = None) -> np.ndarray:
    """Tokens int64 [n, phrases, steps]: ``n`` melodies of ``phrases`` phrases (from ``personal``'s prior if set).

    ``form`` (16-bar models: ``corpus``, ``free`` or 16 letters, see :mod:`.form`): which bars of each
    section repeat which; ignored by the 2-bar model."""
    if personal is not None:
        z = personal.decode(walk(n, phrases, personal.latent_dim, rng))
    else:
        z = walk(n, phrases, vae.z_dim, rng).astype(np.float32)
    return decode(vae, z, temperature, rng, form).reshape(int(n), int(phrases), -1)


def decode(vae: "MusicVAE", z: np.ndarray, temperature: float, rng: np.random.Generator,
           form: str | None = None) -> np.ndarray:
    """``vae.decode`` with a ``form`` setting drawn per row on a 16-bar model (the 2-bar model has none)."""
    draw = getattr(vae, "draw_forms", None)
    shape = draw(len(z), form, rng) if draw is not None and form is not None else None
    return vae.decode(z, temperature, rng) if shape is None else vae.decode(z, temperature, rng, form=shape)


def phrase_beats(tokens: np.ndarray) -> float:
    """Beats one phrase of ``tokens`` lasts (8.0 for the 2-bar model)."""
    return np.asarray(tokens).shape[-1] / melody.STEPS_PER_BEAT


def melody_notes(rows: np.ndarray, key: str = keys.OFF, scale: str = "major", register: int = 0,
                 channel: int = 0) -> list[list[Note]]:
    """One melody's phrase tokens [phrases, steps] -> its phrases' notes (beats from each phrase's start),
    in ``key``/``scale`` and centred on ``register`` (see :mod:`.keys`)."""
    notes = [melody.notes_from_tokens(t, channel=channel) for t in rows]
    return keys.shape(notes, key, scale, register)

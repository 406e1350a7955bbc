"""Repeated notes the spectrum smears: a note is split where its own partials dip and come back.

The model hears 128 ms windows (features.N_FFT at 16 kHz). Two notes of one pitch with a gap of a few
milliseconds between them look to it like one held note, and in a mixture the other player fills what dip
is left, so the onset head fires weakly or not at all and the tracker keeps one long note. A 32 ms window
(:data:`WINDOW`) on the note's own first partials (:data:`PARTIALS`, each within half a semitone) still
sees the gap: the level falls and comes back within a few tens of milliseconds. A held note's vibrato and
the other player's attacks move it less, and slowly.

:func:`split_at_dips` splits a note where that level dips by at least ``dip_db`` below the level on both
sides (within :data:`SIDE` hops) and the slot's onset probability near the dip is at least ``min_onset``
(the model heard something start): offline only, it looks ahead a few tens of milliseconds.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import features, tracking
from .audio import SAMPLE_RATE

WINDOW = 512            # samples (32 ms at 16 kHz)
HOP = 64                # samples (4 ms): the dip's time resolution
PARTIALS = (1, 2, 3)    # the partials of the note's pitch whose level is followed
NOTCH = 3               # hops either side of a dip's lowest point that belong to the dip (12 ms)
SIDE = 15               # hops either side of the dip where the level must stand above it (60 ms)
HEAD = 0.06             # s: no split this soon after a note's start ...
TAIL = 0.03             # s: ... or this close to its end
DIP_DB = 5.0            # dB below both sides (tuning duets: 4 and 6 split a little worse)
DIP_ONSET = 0.2         # onset probability near the dip (none: a held note's dip is split too; 0.3+: real repeats missed)
ONSET_REACH = 2         # frames either side of the dip where the onset probability is read


def partial_level(samples: np.ndarray, pitch: int, first: int, count: int) -> np.ndarray:
    """dB level of ``pitch``'s :data:`PARTIALS` in ``count`` :data:`WINDOW` frames, :data:`HOP` apart, the first
    centred on sample ``first`` (samples outside the signal are silence)."""
    start = first - WINDOW // 2
    lo, hi = max(0, start), min(len(samples), start + HOP * (count - 1) + WINDOW)
    x = np.zeros(HOP * (count - 1) + WINDOW, np.float32)
    if hi > lo:
        x[lo - start:hi - start] = samples[lo:hi]
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / SAMPLE_RATE)
    f0 = float(features.midi_to_hz(pitch))
    bands = []
    for k in PARTIALS:
        if k * f0 >= SAMPLE_RATE / 2:
            break
        band = np.flatnonzero(np.abs(np.log2(np.maximum(freqs, 1e-6) / (k * f0))) <= 0.5 / 12)
        bands.append(band if len(band) else np.array([int(np.argmin(np.abs(freqs - k * f0)))]))
    total = np.zeros(count)
    if bands:   # only these bins: a small DFT (frames x bins), not the whole spectrum
        bins = np.concatenate(bands)
        basis = (np.hanning(WINDOW)[:, None] * np.exp(-2j * np.pi * np.arange(WINDOW)[:, None] * bins[None, :] / WINDOW))
        frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:count]
        total = (np.abs(frames @ basis.astype(np.complex64)) ** 2).sum(axis=1)
    return 10.0 * np.log10(total + 1e-10)


def dips(level: np.ndarray, dip_db: float) -> list[int]:
    """Hops where ``level`` has a lowest point at least ``dip_db`` below its highest within :data:`SIDE` hops on
    both sides, deepest first, each at least :data:`SIDE` hops from a deeper one."""
    level = np.asarray(level, np.float64)
    if len(level) < 2 * SIDE + 1:
        return []
    windows = np.lib.stride_tricks.sliding_window_view
    lowest = windows(level, 2 * NOTCH + 1).min(axis=1)      # [i]: min of level[i : i + 2 NOTCH + 1]
    highest = windows(level, SIDE - NOTCH).max(axis=1)      # [i]: max of level[i : i + SIDE - NOTCH]
    c = np.arange(SIDE, len(level) - SIDE)
    depth = np.minimum(highest[c - SIDE], highest[c + NOTCH + 1]) - level[c]
    keep = (level[c] <= lowest[c - NOTCH]) & (depth >= dip_db)
    kept: list[int] = []
    for i in np.argsort(-depth[keep], kind="stable"):
        centre = int(c[keep][i])
        if all(abs(centre - k) >= SIDE for k in kept):
            kept.append(centre)
    return kept


def split_at_dips(notes: list[tracking.TrackedNote], samples: np.ndarray, onset: np.ndarray,
                  dip_db: float = DIP_DB, min_onset: float = DIP_ONSET) -> list[tracking.TrackedNote]:
    """``notes`` (one line, seconds and frames) with each note split at its partials' dips (see the module);
    ``onset``: the line's onset probability per model frame."""
    out: list[tracking.TrackedNote] = []
    for note in notes:
        first = int(round((note.start + HEAD) * SAMPLE_RATE))
        count = int((note.end - TAIL - note.start - HEAD) * SAMPLE_RATE / HOP) + 1
        if count < 1:
            out.append(note)
            continue
        first -= SIDE * HOP   # the sides of a dip near either end are inside the signal read
        level = partial_level(samples, note.pitch, first, count + 2 * SIDE)
        cuts = []
        for c in dips(level, dip_db):
            t = (first + c * HOP) / SAMPLE_RATE
            frame = int(round(t * features.FRAME_RATE))
            near = onset[max(0, frame - ONSET_REACH):frame + ONSET_REACH + 1]
            if len(near) and float(near.max()) >= min_onset:
                cuts.append((t, frame))
        piece = note
        for t, frame in sorted(cuts):
            out.append(replace(piece, end=t, end_frame=frame))
            piece = replace(piece, start=t, start_frame=frame)
        out.append(piece)
    return out

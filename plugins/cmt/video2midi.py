"""Offline video -> multi-track MIDI: the core of the future ``cmt-bridge cmt video2midi``.

The video's bar grid sets the tempo (:func:`plugins.cmt.video.video_controls`);
bar by bar the :class:`plugins.cmt.sampling.BarSampler` generates music with the
video's density and strength; the result is one MIDI track per instrument class
on its own channel (drums on 10) with its General MIDI program, as long as the
video. No CLI, piano roll or audio rendering yet (docs/cmt.md).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from bridge.events import Note
from plugins.cmt import tokens as T
from plugins.cmt.sampling import BarSampler
from plugins.cmt.video import VideoControls, video_controls

log = logging.getLogger(__name__)


def compose(sampler: BarSampler, density: Sequence[int], strength: Sequence[int]) -> dict[str, list[Note]]:
    """Notes per instrument class in beats from the first bar line, one bar per control pair."""
    if len(density) != len(strength):
        raise ValueError("density and strength need one class per bar each")
    out: dict[str, list[Note]] = {}
    for b, (d, s) in enumerate(zip(density, strength)):
        notes, _ = sampler.bar(int(d), int(s))
        offset = b * sampler.beats_per_bar
        for name, part in notes.items():
            out.setdefault(name, []).extend(n.shifted(offset) for n in part)
    return out


def video_to_midi(bundle, video: str | Path, out: str | Path, bars: int | None = None,
                  beats_per_bar: float = 4.0, seed: int | None = None,
                  control: float = 1.0) -> tuple[Path, VideoControls, dict[str, list[Note]]]:
    """Write ``out`` (.mid) for ``video`` with the CMT model ``bundle``; returns (path, controls, notes)."""
    from bridge.midifile import write_notes

    c = video_controls(video, beats_per_bar, bars)
    sampler = BarSampler.from_bundle(bundle, beats_per_bar=beats_per_bar, total_bars=c.bars, seed=seed,
                                     control=control)
    notes = compose(sampler, c.density, c.strength)
    end = c.bars * beats_per_bar
    flat = [Note(n.pitch, n.velocity, n.start, min(n.duration, end - n.start), n.channel)
            for part in notes.values() for n in part]
    programs = {i.channel: i.program for i in T.INSTRUMENTS if i.name in notes and i.name != "drums"}
    path = write_notes(out, flat, bpm=c.bpm, programs=programs)
    log.info("%s: %d bars at %.1f BPM, %d notes on %d tracks -> %s", video, c.bars, c.bpm, len(flat), len(notes), path)
    return path, c, notes

"""articulation.split_at_dips: a repeated note is split at the gap in its own partials; vibrato, the other
player and a silent onset head split nothing."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.transcription import articulation, features
from plugins.transcription.audio import SAMPLE_RATE
from plugins.transcription.tracking import TrackedNote

PITCH = 76   # E5, a flute's middle register


def tone(pitch: float, seconds: float, vibrato_cents: float = 0.0, tremolo_db: float = 0.0) -> np.ndarray:
    """A flute-like tone: three partials, 20 ms attack, 15 ms release, optional 6 Hz vibrato and tremolo."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f = features.midi_to_hz(pitch) * 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * 6 * t))
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    x = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.4), (3, 0.2)))
    x = x * 10 ** (tremolo_db / 2 * np.sin(2 * np.pi * 6 * t) / 20)
    env = np.minimum(1.0, np.minimum(t / 0.02, (seconds - t) / 0.015))
    return (0.3 * x * np.clip(env, 0, 1)).astype(np.float32)


def held(seconds: float) -> TrackedNote:
    return TrackedNote(0.0, seconds, PITCH, 80, 0, int(seconds * features.FRAME_RATE))


def onsets(seconds: float, at: tuple[float, ...] = (), p: float = 0.45) -> np.ndarray:
    out = np.zeros(int(seconds * features.FRAME_RATE) + 1, np.float32)
    for t in at:
        out[int(round(t * features.FRAME_RATE))] = p
    return out


@pytest.mark.parametrize("other", [None, 60, 64])
def test_a_repeated_note_with_a_5_ms_gap_is_split_at_the_gap(other):
    gap = np.zeros(int(0.005 * SAMPLE_RATE), np.float32)
    x = np.concatenate([tone(PITCH, 0.5), gap, tone(PITCH, 0.5)])
    if other is not None:   # the other player holds a note under it (E4's second partial is the flute's pitch)
        x = x + tone(other, 1.1)[:len(x)] * 0.7
    second = 0.505
    notes = articulation.split_at_dips([held(len(x) / SAMPLE_RATE)], x, onsets(1.0, (second,)))
    assert len(notes) == 2, notes
    assert abs(notes[1].start - second) < 0.02 and notes[0].end == notes[1].start
    assert notes[1].start_frame == notes[0].end_frame == round(notes[1].start * features.FRAME_RATE)
    assert notes[0].start == 0.0 and notes[1].end == pytest.approx(len(x) / SAMPLE_RATE)
    assert all(n.pitch == PITCH and n.velocity == 80 for n in notes)


def test_vibrato_tremolo_and_a_silent_onset_head_split_nothing():
    x = tone(PITCH, 1.5, vibrato_cents=40, tremolo_db=3)
    assert len(articulation.split_at_dips([held(1.5)], x, onsets(1.5, (0.4, 0.7, 1.0), p=0.9))) == 1
    gap = np.zeros(int(0.005 * SAMPLE_RATE), np.float32)
    x = np.concatenate([tone(PITCH, 0.5), gap, tone(PITCH, 0.5)])
    assert len(articulation.split_at_dips([held(1.005)], x, onsets(1.0))) == 1   # the model heard no start
    short = TrackedNote(0.0, 0.08, PITCH, 80, 0, 5)   # shorter than HEAD + TAIL: left as it is
    assert articulation.split_at_dips([short], x, onsets(1.0, (0.5,))) == [short]

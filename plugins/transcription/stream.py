"""Live transcription in blocks: samples in, note-ons and note-offs out as soon as they are decided.

:class:`StreamTranscriber` keeps the samples a frame still needs, computes each
new frame's spectrum when its window is complete, runs the ``transcribe`` graph
on the new frames with their context, and feeds the incremental
:class:`~plugins.transcription.tracking.NoteTracker`. A note-on is known
``features.N_FFT / 2 + tracking.LAG * features.HOP`` samples after its onset
(80 ms at 16 kHz), plus up to one block and the compute time: :data:`LATENCY_SECONDS`
is the look-ahead part. The offline path (:meth:`Transcriber.transcribe`) gives the
same frames; only pitch refinement over the whole note is offline-only.

Level: offline, a file is scaled to the model's training loudness before it is transcribed
(:func:`features.normalized`). Live, the future is unknown, so the stream measures the loudness of the
last :data:`LEVEL_HISTORY_SECONDS` of input and scales what comes next by the gain that brings it to the
reference: it jumps to that gain once, after :data:`LEVEL_MIN_SECONDS` of audible input, and then follows
it at most :data:`LEVEL_SLEW_DB` per frame (6 dB a second), far too slowly to look like the 6 dB dip of a
re-articulation (jumping whenever no note sounded made level steps inside the model's context: piano 0.99
-> 0.91 at +12 dB on tuning melodies). On tuning melodies at -12 / 0 / +12 dB: violin 0.57 / 0.76 / 0.83 ->
0.79 / 0.82 / 0.82, flute 0.90 / 0.87 / 0.72 -> 0.86 / 0.86 / 0.84, piano 0.93 / 0.99 / 0.99 -> 0.97 /
0.97 / 0.98. ``level_match=False`` takes the input as it is.
"""
from __future__ import annotations

import numpy as np

from . import features
from .audio import SAMPLE_RATE
from .tracking import NoteTracker, ONSET_THRESHOLD, LAG, FrameLabels, TrackedNote
from .transcriber import Transcriber

LATENCY_SECONDS = (features.N_FFT // 2 + (LAG + features.CONTEXT_AFTER) * features.HOP) / SAMPLE_RATE
LEVEL_HISTORY_SECONDS = 10.0
LEVEL_MIN_SECONDS = 1.0   # of input with some sound (a frame above LEVEL_AUDIBLE_DB) before the gain moves
LEVEL_AUDIBLE_DB = -75.0
LEVEL_SLEW_DB = 0.1


class StreamTranscriber:
    def __init__(self, model: Transcriber, onset_threshold: float = ONSET_THRESHOLD, level_match: bool = True) -> None:
        self.model = model
        self.reference_db = getattr(model, "reference_db", None) if level_match else None
        self.gain_db = 0.0                       # applied to the input (level matching)
        self.level_known = False
        self.history: list[float] = []           # the input's frame levels before the gain, dB
        self.tracker = NoteTracker(onset_threshold)
        self.buffer = np.zeros(features.N_FFT // 2, np.float32)  # the left padding the offline path adds
        self.base = 0  # padded-sample index of buffer[0]
        self.frames = 0  # spectrum frames computed so far
        self.before, self.after = model.before, model.after   # the model's frames of context
        self.fast = getattr(model, "fast", 0)                  # fast bands after the spectrum
        self.context = features.silence_frames(self.before, features.N_BINS + self.fast)
        self.pending = np.zeros((0, features.N_BINS + self.fast), np.float32)  # frames waiting for their after-context
        self.pending_level = np.zeros(0, np.float32)   # their audio level (features.fast_level), for the tracker

    @property
    def seconds(self) -> float:
        """Audio time pushed so far."""
        return (self.base + len(self.buffer) - features.N_FFT // 2) / SAMPLE_RATE

    def push(self, block: np.ndarray) -> tuple[list[TrackedNote], list[TrackedNote]]:
        """Add mono float samples at SAMPLE_RATE; returns (notes started, notes ended) decided by now."""
        block = features.scaled(np.asarray(block, np.float32).reshape(-1), self.gain_db)
        self.buffer = np.concatenate([self.buffer, block])
        end = self.base + len(self.buffer)
        count = max(0, (end - features.N_FFT - self.frames * features.HOP) // features.HOP + 1)
        if count == 0:
            return [], []
        offset = self.frames * features.HOP - self.base
        spec = features.model_frames_live(self.buffer[offset:], count, self.fast)
        level = features.fast_level_live(self.buffer[offset:], count)
        self.frames += count
        drop = self.frames * features.HOP - self.base
        self.buffer, self.base = self.buffer[drop:], self.base + drop
        result = self._frames(spec, level)
        self._match_level(level - np.float32(self.gain_db), count)
        return result

    def _match_level(self, level: np.ndarray, count: int) -> None:
        """Update the input gain from the latest frame levels (dB, before the gain)."""
        if self.reference_db is None:
            return
        self.history = (self.history + level.tolist())[-int(LEVEL_HISTORY_SECONDS * features.FRAME_RATE):]
        if len(self.history) < LEVEL_MIN_SECONDS * features.FRAME_RATE or max(self.history) < LEVEL_AUDIBLE_DB:
            return
        target = features.level_gain(np.array(self.history), self.reference_db)
        if not self.level_known:   # the first estimate: jump to it, between notes
            if self.tracker.current is None:
                self.gain_db, self.level_known = target, True
        else:                      # then follow slowly
            step = LEVEL_SLEW_DB * count
            self.gain_db += float(np.clip(target - self.gain_db, -step, step))

    def _frames(self, spec: np.ndarray, level: np.ndarray) -> tuple[list[TrackedNote], list[TrackedNote]]:
        ready = np.concatenate([self.pending, spec])
        ready_level = np.concatenate([self.pending_level, level])
        usable = len(ready) - self.after
        if usable <= 0:
            self.pending, self.pending_level = ready, ready_level
            return [], []
        window = np.concatenate([self.context, ready])[None]
        out = self.model.run_frames(window[:, : self.before + usable + self.after])
        self.context = np.concatenate([self.context, ready[:usable]])[-self.before:]
        self.pending, self.pending_level = ready[usable:], ready_level[usable:]
        return self.tracker.push(FrameLabels.from_outputs(out, ready_level[:usable]))

    def close(self) -> list[TrackedNote]:
        """End of the input: the sounding note ends."""
        return self.tracker.flush()

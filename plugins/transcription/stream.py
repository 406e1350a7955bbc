"""Live transcription in blocks: samples in, note-ons and note-offs out as soon as they are decided.

:class:`StreamTranscriber` keeps the samples a frame still needs, computes each
new frame's spectrum when its window is complete, runs the ``transcribe`` graph
on the new frames with their context, and feeds the incremental
:class:`~plugins.transcription.tracking.NoteTracker`. A note-on is known
``features.N_FFT / 2 + tracking.LAG * features.HOP`` samples after its onset
(80 ms at 16 kHz), plus up to one block and the compute time: :data:`LATENCY_SECONDS`
is the look-ahead part. The offline path (:meth:`Transcriber.transcribe`) gives the
same frames; only pitch refinement over the whole note is offline-only.
"""
from __future__ import annotations

import numpy as np

from . import features
from .audio import SAMPLE_RATE
from .tracking import NoteTracker, ONSET_THRESHOLD, LAG, FrameLabels, TrackedNote
from .transcriber import Transcriber

LATENCY_SECONDS = (features.N_FFT // 2 + (LAG + features.CONTEXT_AFTER) * features.HOP) / SAMPLE_RATE


class StreamTranscriber:
    def __init__(self, model: Transcriber, onset_threshold: float = ONSET_THRESHOLD) -> None:
        self.model = model
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
        self.buffer = np.concatenate([self.buffer, np.asarray(block, np.float32).reshape(-1)])
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
        return self._frames(spec, level)

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

"""The live mapping: the newest audio heard -> one parameter vector per frame.

:class:`LiveSteering` is the same steering as the offline renderer
(:mod:`.steering`: :class:`Projection`, :class:`Walker`, :func:`scene_of`),
fed causally: each frame it measures the newest ``N_FFT`` samples
(:class:`~plugins.visuals.features.FrameAnalyser`), and every
``tag_every_s`` it tags the newest window with the tagger, which moves the
targets the walker glides to. Onsets are normalised by a running peak that
forgets over :data:`PEAK_MEMORY_S` (the offline path uses the whole file's
98th percentile instead).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable

import numpy as np

from plugins.tagger.tagger import Tagger

from .analysis import model_sha256
from .features import N_FFT, FrameAnalyser
from .palette import NEUTRAL_HUE, Scene, scene_of
from .reference import load_reference
from .steering import Projection, Walker

log = logging.getLogger(__name__)

PEAK_MEMORY_S = 8.0
PEAK_FLOOR = 1.0           # as normalise_onsets' floor: faint flux stays faint


class LiveSteering:
    """Frame by frame: ``frame(latest)`` -> vector; tags the newest window every ``tag_every_s`` of frames."""

    def __init__(self, tagger: Tagger, fps: float, seed: int = 0, tag_every_s: float = 1.0,
                 sensitivity: float = 1.0) -> None:
        self.tagger, self.fps, self.seed = tagger, float(fps), int(seed)
        dim = int(tagger.run(np.zeros((tagger.batch if tagger.fixed_batch else 1, tagger.window), np.float32))[1].shape[1])
        self.projection = Projection(dim, seed, load_reference(model_sha256(tagger), dim))
        self.analyser = FrameAnalyser(tagger.rate)
        self.walker = Walker(self.fps, seed)
        self.tag_every = max(1, int(round(tag_every_s * self.fps)))
        self.sensitivity = float(sensitivity)
        self.peak = PEAK_FLOOR
        self.peak_decay = math.exp(-1.0 / (PEAK_MEMORY_S * self.fps))
        self.default_hue = (NEUTRAL_HUE + 0.15 * float(self.projection.offset[0])) % 1.0
        self.shape = self.projection.offset.copy()
        self.tint = np.zeros(3)
        self.scene: Scene = scene_of({}, default_hue=self.default_hue)
        self.centre: np.ndarray | None = None
        self.frames = 0
        self.tags: dict[str, float] = {}
        self.silent = True
        self.tag_ms = 0.0

    def retag(self, samples: np.ndarray) -> None:
        """Tag the newest window: new shape and scene targets (silence keeps the last shape)."""
        began = time.perf_counter()
        probs, embedding, silent = self.tagger.tag_window(samples)
        self.tag_ms = 1000 * (time.perf_counter() - began)
        self.silent = bool(silent)
        self.tags = {t: float(p) for t, p in zip(self.tagger.tags, probs)}
        if not silent:
            if not self.projection.uses_reference and self.centre is None:
                self.centre = embedding.astype(np.float64)       # no reference: centre on the first sound heard
            self.shape = self.projection(embedding[None], self.centre)[0]
            self.tint = self.projection.tint(embedding[None], self.centre)[0]
        self.scene = scene_of(self.tags, default_hue=self.default_hue, tint=self.tint)

    def frame(self, latest: Callable[[int], np.ndarray]) -> np.ndarray:
        """The next frame's vector; ``latest(n)`` gives the newest ``n`` samples heard (mono, the tagger's rate)."""
        if self.frames % self.tag_every == 0:
            window = latest(self.tagger.window)
            if len(window):
                self.retag(window)
        raw, _, level = self.analyser.frame(latest(N_FFT))
        self.peak = max(PEAK_FLOOR, self.peak * self.peak_decay, raw)
        onset = min(1.5, self.sensitivity * raw / self.peak)
        self.frames += 1
        return self.walker.step(self.shape, self.scene, onset, level)

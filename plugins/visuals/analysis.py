"""A recording -> what steers its video: per-frame audio features and the tagger's windows, then frame vectors.

:func:`analyse` runs the tagger (:class:`plugins.tagger.tagger.Tagger`, every
``hop`` seconds) and the frame analyser (:mod:`.features`) over the samples;
:func:`frame_vectors` turns an :class:`Analysis` and a seed into one parameter
vector per frame through :mod:`.steering`. Both are pure functions of their
inputs: the same recording, settings and seed give the same vectors.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from plugins.tagger.caption import Captioner
from plugins.tagger.tagger import Tagger, TagTimeline

from .features import FrameFeatures, frame_features, normalise_onsets
from .palette import NEUTRAL_HUE, scene_of
from .reference import load_reference
from .shader import N_PARAMS
from .steering import Projection, Walker, interpolate

log = logging.getLogger(__name__)

DEFAULT_HOP_S = 1.0


@dataclass
class Analysis:
    """Everything the mapping needs about one recording."""

    fps: float
    duration_s: float
    features: FrameFeatures          # onset already normalised (0..1.5)
    timeline: TagTimeline
    sentences: list[str]             # one per tagger window (plain style)
    sentence: str                    # the whole recording's
    prompts: list[str]               # one per tagger window (image-prompt style)
    model_sha256: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.features)

    @property
    def window_centres(self) -> np.ndarray:
        return self.timeline.starts_seconds + self.timeline.window_seconds / 2

    def probabilities(self, i: int) -> dict[str, float]:
        return {t: float(p) for t, p in zip(self.timeline.tags, self.timeline.probabilities[i])}


def model_sha256(tagger: Tagger) -> str | None:
    spec = tagger.bundle.manifest.get("graphs", {}).get(tagger.graph.name, {})
    return spec.get("sha256")


def analyse(samples: np.ndarray, tagger: Tagger, fps: float, hop_s: float = DEFAULT_HOP_S,
            progress: Callable[[int, int], None] | None = None) -> Analysis:
    """Tag ``samples`` (mono float32 at ``tagger.rate``) and measure its frames at ``fps``."""
    samples = np.asarray(samples, np.float32).reshape(-1)
    duration = len(samples) / tagger.rate
    n_frames = max(1, int(round(duration * fps)))
    timeline = tagger.timeline(samples, hop_s, progress=progress)
    feats = frame_features(samples, tagger.rate, fps, n_frames)
    feats.onset = normalise_onsets(feats.onset)
    captioner = Captioner(tagger.tags, tagger.groups, tagger.thresholds)
    sentences = [captioner.sentence(timeline.probabilities[i], "plain", bool(timeline.silent[i]))
                 for i in range(len(timeline.silent))]
    prompts = [captioner.sentence(timeline.probabilities[i], "prompt", bool(timeline.silent[i]))
               for i in range(len(timeline.silent))]
    sentence = captioner.sentence(timeline.pooled(), "plain", timeline.is_silence)
    return Analysis(fps, duration, feats, timeline, sentences, sentence, prompts, model_sha256(tagger))


def held_rows(rows: np.ndarray, silent: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``rows`` with each silent window's row replaced by the last sounding one (``first`` before any)."""
    rows = np.array(rows, np.float64)
    held = np.asarray(first, np.float64)
    for i in range(len(rows)):
        if silent[i]:
            rows[i] = held
        else:
            held = rows[i]
    return rows


def shape_targets(analysis: Analysis, projection: Projection) -> np.ndarray:
    """[W, 8] shape targets per tagger window; silent windows hold the last sounding one (the centre at first)."""
    tl = analysis.timeline
    return held_rows(projection(tl.embeddings), tl.silent, projection.offset)


def frame_vectors(analysis: Analysis, seed: int = 0) -> np.ndarray:
    """[n_frames, N_PARAMS] float32: the video's parameter vectors."""
    tl = analysis.timeline
    reference = load_reference(analysis.model_sha256, tl.embeddings.shape[1])
    projection = Projection(tl.embeddings.shape[1], seed, reference)
    times = (np.arange(analysis.n_frames) + 0.5) / analysis.fps
    centres = analysis.window_centres
    shapes = interpolate(centres, shape_targets(analysis, projection), times)
    probs = interpolate(centres, tl.probabilities, times)
    tints = interpolate(centres, held_rows(projection.tint(tl.embeddings), tl.silent, np.zeros(3)), times)
    default_hue = (NEUTRAL_HUE + 0.15 * float(projection.offset[0])) % 1.0
    walker = Walker(analysis.fps, seed)
    out = np.zeros((analysis.n_frames, N_PARAMS), np.float32)
    f = analysis.features
    for i in range(analysis.n_frames):
        scene = scene_of(dict(zip(tl.tags, probs[i])), default_hue=default_hue, tint=tints[i])
        out[i] = walker.step(shapes[i], scene, float(f.onset[i]), float(f.level[i]))
    return out

"""The mapping from music to the shader's parameter vector (lucid-sonic-dreams' pulse / motion / class split).

- **class** (what the picture is): the tagger's embedding, projected to the
  eight ``shape`` numbers. The projection is the embedding's principal axes
  measured on calibration music (:mod:`.reference`; a seeded random
  projection when the reference does not match the model), turned by a
  seeded rotation and offset: the same song and seed give the same walk, another
  seed another look at the same music. Window to window the targets are
  interpolated (offline) or jump (live) and a one-pole filter glides to them
  (:data:`SHAPE_TAU_S`), so the walk is smooth.
- **palette and scene**: the tags (:mod:`.palette`), glided more slowly
  (:data:`PALETTE_TAU_S`).
- **motion**: ``phase`` advances by the scene's speed (louder: a bit faster)
  plus a kick proportional to each frame's onset strength, so the picture
  moves most on the beat and not at all between beats of silence.
- **pulse**: follows onsets up at once and decays in :data:`PULSE_DECAY_S`.

:class:`Walker` is the per-frame state machine both paths step through; it
holds no clock and reads no audio, so a test can drive it with numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import shader as S
from .palette import Scene
from .reference import Reference

SHAPE_TAU_S = 1.2         # seconds for the shape to cover 63% of a step
PALETTE_TAU_S = 4.0
SCENE_TAU_S = 2.0
PULSE_DECAY_S = 0.18
KICK = 0.9                # phase units per unit onset strength in one frame at 30 fps
SHAPE_GAIN = 0.9          # tanh(gain * z / scale): one reference standard deviation ~ 0.7
SEED_OFFSET = 0.5         # how far a seed moves the walk's centre, shape units
LEVEL_QUIET_DB, LEVEL_LOUD_DB = -50.0, -12.0


def _alpha(tau_s: float, fps: float) -> float:
    return 1.0 - math.exp(-1.0 / (max(tau_s, 1e-6) * fps))


class Projection:
    """Embedding [D] -> eight shape numbers in (-1, 1), seeded."""

    def __init__(self, dim: int, seed: int, reference: Reference | None = None) -> None:
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 3])
        if reference is not None and reference.dim == dim:
            self.mean, basis, scales = reference.mean, reference.components[:8], reference.scales[:8]
        else:
            self.mean = None
            basis = rng.standard_normal((8, dim)) / math.sqrt(dim)
            scales = np.ones(8)
        q, _ = np.linalg.qr(rng.standard_normal((8, 8)))        # a seeded rotation of the eight axes
        self.matrix = (q @ (basis / np.maximum(scales, 1e-6)[:, None])).astype(np.float64)
        self.offset = rng.uniform(-SEED_OFFSET, SEED_OFFSET, 8)
        self.uses_reference = self.mean is not None
        # the tint: the first three axes unrotated and unseeded, so the colours belong to the music
        self.tint_matrix = (basis[:3] / np.maximum(scales[:3], 1e-6)[:, None]).astype(np.float64)

    def __call__(self, embeddings: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        """[..., D] -> [..., 8]; without a reference, centred on ``centre`` or else the rows' own mean."""
        e = np.asarray(embeddings, np.float64)
        if self.mean is not None:
            centre = self.mean
        elif centre is None:
            centre = e.reshape(-1, e.shape[-1]).mean(axis=0)
        return self.offset + np.tanh(SHAPE_GAIN * (e - centre) @ self.matrix.T)

    def tint(self, embeddings: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
        """[..., D] -> [..., 3] in (-1, 1): the palette's tint (see palette.scene_of)."""
        e = np.asarray(embeddings, np.float64)
        if self.mean is not None:
            centre = self.mean
        elif centre is None:
            centre = e.reshape(-1, e.shape[-1]).mean(axis=0)
        return np.tanh(SHAPE_GAIN * (e - centre) @ self.tint_matrix.T)


@dataclass
class Walker:
    """Per-frame state: shape, palette and scene glide to their targets; phase and pulse integrate onsets."""

    fps: float
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng([int(self.seed) & 0xFFFFFFFF, 7])
        self.rotation0 = float(rng.uniform(0, 2 * math.pi))
        self.spin = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.01, 0.03))    # radians per second
        self.phase = float(rng.uniform(0, 20))
        self.shape: np.ndarray | None = None
        self.palette: np.ndarray | None = None
        self.scene = np.zeros(3)      # speed, warp, zoom
        self.pulse = 0.0
        self.frames = 0
        self.a_shape, self.a_palette = _alpha(SHAPE_TAU_S, self.fps), _alpha(PALETTE_TAU_S, self.fps)
        self.a_scene, self.decay = _alpha(SCENE_TAU_S, self.fps), math.exp(-1.0 / (PULSE_DECAY_S * self.fps))

    def step(self, shape: np.ndarray, scene: Scene, onset: float, level_db: float) -> np.ndarray:
        """The next frame's vector (:data:`~plugins.visuals.shader.N_PARAMS` floats) towards these targets.

        ``onset``: normalised onset strength (about 0..1); ``level_db``: the frame's level in dBFS.
        """
        target = np.array([scene.speed, scene.warp, scene.zoom])
        if self.shape is None:
            self.shape, self.palette, self.scene = np.array(shape, float), scene.palette.astype(float), target
        else:
            self.shape += self.a_shape * (np.asarray(shape, float) - self.shape)
            self.palette += self.a_palette * (scene.palette - self.palette)
            self.scene += self.a_scene * (target - self.scene)
        onset = float(np.clip(onset, 0.0, 1.5))
        loud = float(np.clip((level_db - LEVEL_QUIET_DB) / (LEVEL_LOUD_DB - LEVEL_QUIET_DB), 0.0, 1.0))
        speed, warp, zoom = self.scene
        self.phase += speed * (0.3 + 0.7 * loud) / self.fps + KICK * onset * 30.0 / self.fps
        self.pulse = max(min(onset, 1.0), self.pulse * self.decay)
        v = np.zeros(S.N_PARAMS, np.float32)
        v[S.SHAPE] = self.shape
        v[S.PHASE] = self.phase
        v[S.PULSE] = self.pulse
        v[S.ZOOM] = zoom
        v[S.ROTATION] = self.rotation0 + self.spin * self.frames / self.fps
        v[S.WARP] = warp * (0.9 + 0.2 * loud)
        v[S.PALETTE] = self.palette
        self.frames += 1
        return v


def interpolate(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Piecewise-linear rows of ``values`` [n, k] at ``times`` [n], sampled at ``at`` (held at the ends)."""
    values = np.asarray(values, np.float64)
    if len(times) == 1:
        return np.repeat(values, len(at), axis=0)
    return np.stack([np.interp(at, times, values[:, j]) for j in range(values.shape[1])], axis=1)

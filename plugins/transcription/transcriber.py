"""The runtime model: audio -> notes (``transcribe`` graph) and notes -> audio (``synthesize`` graph).

Plugins and commands use :class:`Transcriber`; raw tensor names stay in
bridge.runtime. Long files run in windows of :data:`WINDOW_FRAMES` frames (with
their context) so memory stays flat.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bridge.api import InputError, ModelBundle, ModelError, model_folder

from . import features, labels, tracking
from .audio import SAMPLE_RATE, read_audio

log = logging.getLogger(__name__)

MODEL_NAME = "transcription"
EXPECT = {"transcribe": ({"frames"}, {"pitch_class", "octave", "dynamics", "instrument", "onset"}),
          "synthesize": ({"symbols"}, {"spectrum"})}
WINDOW_FRAMES = 4096
SILENCE_RMS = 1e-4  # below this the input counts as silent (-80 dBFS)


def check_features(bundle: ModelBundle, context: bool = True) -> None:
    """A one-line ModelError when the model was trained on other features than this runtime computes
    (``context``: the frames of context around each labelled frame must match too)."""
    f = bundle.manifest.get("features", {})
    mine = {"sample_rate": features.SAMPLE_RATE, "hop": features.HOP, "n_bins": features.N_BINS}
    if context:
        mine.update(context_before=features.CONTEXT_BEFORE, context_after=features.CONTEXT_AFTER)
    if f.get("fast_bands"):   # a model that also takes the fast bands: this runtime's must be the same
        mine.update(fast_bands=features.FAST_BANDS, fast_fft=features.FAST_FFT)
    wrong = {k: (f.get(k), v) for k, v in mine.items() if f.get(k) != v}
    if wrong:
        raise ModelError(f"{bundle.name}: its features {wrong} (model, runtime) do not match this runtime")


def reference_level(bundle: ModelBundle) -> float | None:
    """The loudness (features.loudness_of_levels) of the model's training data, from its manifest: a file is
    scaled to it before it is transcribed. None for models exported before it was stored (no scaling)."""
    value = bundle.manifest.get("features", {}).get("reference_level_db")
    return None if value is None else float(value)


def is_silent(samples: np.ndarray) -> bool:
    """No samples, or a level below :data:`SILENCE_RMS`."""
    return len(samples) == 0 or float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < SILENCE_RMS


def run_windowed(graph, spec: np.ndarray, before: int, after: int, axis: int) -> dict[str, np.ndarray]:
    """``graph`` over a log spectrum [T, N_BINS] in windows of :data:`WINDOW_FRAMES` labelled frames, each
    with ``before`` / ``after`` frames of context (silence at the ends): the outputs concatenated along their
    time ``axis``, so memory stays flat on long files. ``{}`` for no frames."""
    width = spec.shape[1]
    padded = np.concatenate([features.silence_frames(before, width), spec, features.silence_frames(after, width)])
    parts = [graph.run(frames=padded[start:min(len(spec), start + WINDOW_FRAMES) + before + after][None])
             for start in range(0, len(spec), WINDOW_FRAMES)]
    return {k: np.concatenate([p[k] for p in parts], axis=axis) for k in parts[0]} if parts else {}


class Transcriber:
    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        check_features(bundle)
        self._transcribe = bundle.graph("transcribe")
        self._synthesize = bundle.graph("synthesize")
        ctx = bundle.manifest.get("context", {})   # a model with past context needs more frames than the window
        self.before = int(ctx.get("before", features.CONTEXT_BEFORE))
        self.after = int(ctx.get("after", features.CONTEXT_AFTER))
        self.fast = int(bundle.manifest.get("features", {}).get("fast_bands", 0))   # fast bands after the spectrum
        self.reference_db = reference_level(bundle)
        self.has_latents = all(g in bundle.manifest.get("graphs", {}) for g in ("symbol_encoder", "audio_decoder"))

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1, provider: str | None = None) -> "Transcriber":
        folder = model_folder(MODEL_NAME, folder)
        return cls(ModelBundle.load(folder, provider=provider, threads=threads, expect=EXPECT))

    # -- audio -> labels -> notes ------------------------------------------------
    def frame_labels(self, spec: np.ndarray) -> tracking.FrameLabels:
        """Model outputs for input frames [T, width] (:meth:`frames_of`; padded here), windowed for long inputs."""
        out = run_windowed(self._transcribe, spec, self.before, self.after, axis=1)
        if not out:
            return tracking.FrameLabels(*(np.zeros(0, t) for t in (np.float32, np.int64, np.float32, np.int64)))
        return tracking.FrameLabels.from_outputs(out)

    def run_frames(self, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The raw graph on already padded frames [1, before + T + after, N_BINS] (the live path)."""
        return self._transcribe.run(frames=frames)

    def transcribe(self, samples: np.ndarray, onset_threshold: float = tracking.ONSET_THRESHOLD,
                   frame_threshold: float = tracking.FRAME_THRESHOLD) -> list[tracking.TrackedNote]:
        """Notes (seconds) of mono float samples at SAMPLE_RATE; silence -> []. The samples are first scaled to
        the model's training loudness (manifest ``features.reference_level_db``), so a file's level does not
        change which notes are heard; their velocities are moved back by that gain (a quiet take stays soft)."""
        samples = np.asarray(samples, np.float32)
        if is_silent(samples):
            return []
        gain = features.normalization_gain(samples, self.reference_db)
        notes = tracking.track(self.labels_of(features.scaled(samples, gain)), onset_threshold, frame_threshold)
        for n in notes:   # pitch and timing are heard at the training level; a quiet take stays soft
            n.velocity = features.velocity_at_gain(n.velocity, gain)
        return notes

    def labels_of(self, samples: np.ndarray) -> tracking.FrameLabels:
        """What the tracker reads for mono samples at SAMPLE_RATE: the model's frame labels and the audio's level."""
        samples = np.asarray(samples, np.float32)
        labels = self.frame_labels(self.frames_of(samples))
        labels.level = features.fast_level(samples)[:len(labels)] if len(labels) else None
        return labels

    def frames_of(self, samples: np.ndarray) -> np.ndarray:
        """The model's input frames for mono samples at SAMPLE_RATE (the spectrum, and fast bands if it takes them)."""
        return features.model_frames(np.asarray(samples, np.float32), self.fast)

    def transcribe_file(self, path: str | Path, **kw) -> list[tracking.TrackedNote]:
        return self.transcribe(read_audio(path, SAMPLE_RATE), **kw)

    def instrument_guess(self, samples: np.ndarray) -> str:
        """The instrument the symbol decoder hears most often on sounding frames."""
        samples = features.normalized(samples, self.reference_db)
        out = run_windowed(self._transcribe, self.frames_of(samples), self.before, self.after, axis=1)
        if not out:
            raise InputError("no sounding frames to recognise an instrument from")
        sounding = np.exp(out["pitch_class"][0, :, labels.NONE_PC]) < 0.5
        if not sounding.any():
            raise InputError("no sounding frames to recognise an instrument from")
        votes = out["instrument"][0][sounding].sum(axis=0)
        return labels.INSTRUMENT_NAMES[int(votes.argmax())]

    # -- notes -> latent -> spectrum (seed 002's generation modes) ------------------------------
    def _latent_graphs(self):
        if not self.has_latents:
            raise ModelError(f"{self.bundle.name}: no symbol_encoder / audio_decoder graphs (re-export it: "
                             "python -m export.transcription.latent_graphs)")
        return self.bundle.graph("symbol_encoder"), self.bundle.graph("audio_decoder")

    def latents_of(self, pitch: np.ndarray, velocity: np.ndarray, instrument: str) -> np.ndarray:
        """[T, Z] the symbol encoder's latent (mean) of each frame; silent frames get the silence symbol's."""
        enc, _ = self._latent_graphs()
        inst = labels.INSTRUMENT_NAMES.index(labels.instrument(instrument).name)
        symbols = labels.symbols_onehot(pitch, labels.dynamic_class(velocity), np.full(len(pitch), inst))
        uniq, inverse = np.unique(symbols, axis=0, return_inverse=True)
        return enc.run(symbols=uniq)["z"][inverse.reshape(-1)]

    def spectrum_of_latents(self, z: np.ndarray) -> np.ndarray:
        """[T, N_BINS] log spectrum of latent frames [T, Z] through the audio decoder."""
        _, dec = self._latent_graphs()
        return dec.run(z=np.asarray(z, np.float32))["spectrum"]

    # -- notes -> spectrum ---------------------------------------------------------
    def spectrum_of(self, pitch: np.ndarray, velocity: np.ndarray, instrument: str) -> np.ndarray:
        """[T, N_BINS] log spectrum for per-frame MIDI pitch (-1 = silence) and velocity."""
        inst = labels.INSTRUMENT_NAMES.index(labels.instrument(instrument).name)
        dyn = labels.dynamic_class(velocity)
        symbols = labels.symbols_onehot(pitch, dyn, np.full(len(pitch), inst))
        # identical symbols give identical frames: run each distinct symbol once
        uniq, inverse = np.unique(symbols, axis=0, return_inverse=True)
        spec = self._synthesize.run(symbols=uniq)["spectrum"]
        out = spec[inverse.reshape(-1)]
        silent = np.asarray(pitch) < 0
        out[silent] = np.log(features.FLOOR)
        return out

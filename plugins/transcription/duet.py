"""Duets: audio of two of the five instruments playing together -> one list of notes per instrument.

The ``transcription-duet`` model (export/transcription/duet.py) gives, for every
frame and each of the five instruments, the log-probabilities of silence and of
every pitch, an onset probability and the dynamics. Each instrument's slot goes
through the same :func:`~plugins.transcription.tracking.track` as a solo line,
so every note comes out attributed to the instrument that played it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bridge.api import ModelBundle, ModelError, model_folder

from . import features, labels, tracking
from .audio import SAMPLE_RATE, read_audio
from .transcriber import SILENCE_RMS, WINDOW_FRAMES

MODEL_NAME = "transcription-duet"
PLAYERS = 2          # a duet: keep at most this many instruments ...
PRESENCE_SHARE = 0.15  # ... each sounding at least this share of the most present one's frames
EXPECT = {"duet": ({"frames"}, {"pitch", "onset", "dynamics"})}


class DuetTranscriber:
    def __init__(self, bundle: ModelBundle) -> None:
        self.bundle = bundle
        m = bundle.manifest
        f = m.get("features", {})
        mine = {"sample_rate": features.SAMPLE_RATE, "hop": features.HOP, "n_bins": features.N_BINS}
        wrong = {k: (f.get(k), v) for k, v in mine.items() if f.get(k) != v}
        if wrong:
            raise ModelError(f"{bundle.name}: its features {wrong} (model, runtime) do not match this runtime")
        self.instruments = list(m.get("labels", {}).get("instruments", labels.INSTRUMENT_NAMES))
        self.min_note = int(m.get("min_note", labels.MIN_NOTE))
        ctx = m.get("context", {})
        self.before = int(ctx.get("before", features.CONTEXT_BEFORE))   # silence frames the graph needs around
        self.after = int(ctx.get("after", features.CONTEXT_AFTER))
        self._duet = bundle.graph("duet")

    @classmethod
    def load(cls, folder: str | Path | None = None, threads: int = 1, provider: str | None = None) -> "DuetTranscriber":
        folder = model_folder(MODEL_NAME, folder)
        return cls(ModelBundle.load(folder, provider=provider, threads=threads, expect=EXPECT))

    def outputs(self, spec: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's outputs for a log spectrum [T, N_BINS] (padded here with the model's context, windowed
        for long inputs), batch axis dropped: pitch [T, 5, P], onset [T, 5], dynamics [T, 5, 4]."""
        padded = np.concatenate([features.silence_frames(self.before), spec, features.silence_frames(self.after)])
        parts = []
        for start in range(0, len(spec), WINDOW_FRAMES):
            stop = min(len(spec), start + WINDOW_FRAMES)
            parts.append(self._duet.run(frames=padded[start:stop + self.before + self.after][None]))
        return {k: np.concatenate([p[k][0] for p in parts], axis=0) for k in ("pitch", "onset", "dynamics")}

    def slot_labels(self, out: dict[str, np.ndarray], slot: int) -> tracking.FrameLabels:
        """One instrument's frames in the tracker's terms."""
        logp = out["pitch"][:, slot]
        return tracking.FrameLabels(out["onset"][:, slot].astype(np.float32),
                                    (logp[:, 1:].argmax(-1) + self.min_note).astype(np.int64),
                                    np.exp(logp[:, 0]).astype(np.float32), out["dynamics"][:, slot].argmax(-1))

    def players(self, out: dict[str, np.ndarray], players: int = PLAYERS) -> list[int]:
        """The slots of the instruments that play: the ``players`` most present (expected sounding frames),
        each at least :data:`PRESENCE_SHARE` of the leader's; a third instrument's stray notes are dropped."""
        sounding = (1.0 - np.exp(out["pitch"][:, :, 0])).sum(axis=0)
        order = [int(k) for k in np.argsort(-sounding)]
        return [k for k in order[:players] if sounding[k] > 0 and sounding[k] >= PRESENCE_SHARE * sounding[order[0]]]

    def transcribe(self, samples: np.ndarray, onset_threshold: float = tracking.ONSET_THRESHOLD,
                   frame_threshold: float = tracking.FRAME_THRESHOLD,
                   players: int = PLAYERS) -> dict[str, list[tracking.TrackedNote]]:
        """{instrument: notes (seconds)} of mono float samples at SAMPLE_RATE, only the instruments heard (at
        most ``players``: a duet is two)."""
        samples = np.asarray(samples, np.float32)
        if len(samples) == 0 or float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) < SILENCE_RMS:
            return {}
        out = self.outputs(features.log_spectrum(samples))
        heard = {}
        for slot in sorted(self.players(out, players)):
            notes = tracking.track(self.slot_labels(out, slot), onset_threshold, frame_threshold)
            if notes:
                heard[self.instruments[slot]] = notes
        return heard

    def transcribe_file(self, path: str | Path, **kw) -> dict[str, list[tracking.TrackedNote]]:
        return self.transcribe(read_audio(path, SAMPLE_RATE), **kw)

"""The live "transcription" generator: ``/cmt/transcription/file <path>`` streams a recording's notes in time.

The file is transcribed when the action arrives (about 100x faster than real
time), its notes are turned from seconds into beats at the current tempo and
cut into one-bar phrases, which the host plays from the next bar. Between
files (or with ``loop`` off, after one) the generator plays silent bars.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bridge.errors import InputError, ModelError
from bridge.events import Note, Phrase
from bridge.generator import Action, Generator, Param

from .tracking import ONSET_THRESHOLD, TrackedNote
from .transcriber import EXPECT, MODEL_NAME, Transcriber

log = logging.getLogger(__name__)


def phrases_of(notes: list[TrackedNote], bpm: float, beats_per_bar: int, channel: int, name: str) -> list[Phrase]:
    """Bars of notes (seconds -> beats at ``bpm``); a note belongs to the bar it starts in."""
    bars: dict[int, list[Note]] = {}
    beats_per_second = bpm / 60.0
    for n in notes:
        start = n.start * beats_per_second
        bar = int(start // beats_per_bar)
        duration = max((n.end - n.start) * beats_per_second, 1e-3)
        bars.setdefault(bar, []).append(Note(n.pitch, n.velocity, start - bar * beats_per_bar, duration, channel))
    if not bars:
        return []
    return [Phrase.of(bars.get(b, []), beats_per_bar, name, bar=b) for b in range(max(bars) + 1)]


class TranscriptionGenerator(Generator):
    name = "transcription"
    description = "audio -> notes with the cross-modal VAE: streams a recording's transcription in time"
    models = (MODEL_NAME,)
    model_expect = {MODEL_NAME: EXPECT}
    params = (
        Param("onset_threshold", float, ONSET_THRESHOLD, 0.05, 0.95, doc="onset probability that starts a note"),
        Param("loop", bool, False, doc="repeat the last file's notes instead of falling silent"),
        Param("channel", int, 1, 1, 16, doc="MIDI channel of the notes"),
    )
    actions = (
        Action("file", (Param("path", str, "", doc="a WAV file (any sample rate, mono or stereo)"),),
               doc="transcribe a recording and play its notes from the next bar"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._model: Transcriber | None = None
        self.last: list[Phrase] = []
        self._loop_at = 0
        if self.bundles:
            self._model = self.model

    @property
    def model(self) -> Transcriber:
        if self._model is None:
            bundle = self.bundles.get(MODEL_NAME) or next(iter(self.bundles.values()), None)
            if bundle is None:
                raise ModelError(f"transcription needs the model {MODEL_NAME} (not loaded)")
            self._model = Transcriber(bundle)
        return self._model

    def next_phrase(self) -> Phrase:
        bar = float(self.context.beats_per_bar)
        if self["loop"] and self.last:
            phrase = self.last[self._loop_at % len(self.last)]
            self._loop_at += 1
            return phrase
        return Phrase.of([], bar, self.name)

    def perform(self, action: str, args: list[Any]) -> list[Phrase] | None:
        if action != "file":
            return super().perform(action, args)
        path = Path(args[0]).expanduser()
        if not str(args[0]):
            raise InputError("file needs the path of a WAV file")
        notes = self.model.transcribe_file(path, onset_threshold=self["onset_threshold"])
        phrases = phrases_of(notes, float(self.context.tempo()), self.context.beats_per_bar, self["channel"] - 1,
                             self.name)
        self.context.report(f"transcription: {path.name}: {len(notes)} notes, {len(phrases)} bars")
        log.info("%s: %d notes in %d bars", path, len(notes), len(phrases))
        self.last, self._loop_at = phrases, 0
        return phrases or [Phrase.of([], float(self.context.beats_per_bar), self.name)]

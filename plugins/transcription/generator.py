"""The live "transcription" generator: ``/cmt/transcription/file <path>`` streams a recording's notes in time.

The file is transcribed when the action arrives (about 100x faster than real
time), its notes are turned from seconds into beats at the current tempo and
cut into one-bar phrases, which the host plays from the next bar. Between
files (or with ``loop`` off, after one) the generator plays silent bars.

``/cmt/transcription/listen [device]`` transcribes an input device live
(:mod:`plugins.transcription.audio_in`; "" = the default input): each finished
note is kept in seconds since listening began and the next bar the host asks
for carries the notes that ended since the previous one, at their place in the
bar (the same seconds -> beats mapping as ``file``), so live notes replay one
bar later in the rhythm they were played. ``unlisten`` closes the device.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from bridge.api import Action, Generator, InputError, Note, Param, Phrase

from .params import PARAMS
from .tracking import TrackedNote
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
    params = PARAMS
    actions = (
        Action("file", (Param("path", str, "", doc="a WAV file (any sample rate, mono or stereo)"),),
               doc="transcribe a recording and play its notes from the next bar"),
        Action("listen", (Param("device", str, "", doc="input device index or name (empty: the default input); jack or jack:<port> for a JACK audio input"),),
               doc="transcribe an audio input device live (needs sounddevice); its notes replay a bar later"),
        Action("unlisten", doc="stop transcribing the audio input device"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._model: Transcriber | None = None
        self.last: list[Phrase] = []
        self._loop_at = 0
        self.live = None  # AudioInput while listening
        self._heard: list[TrackedNote] = []
        self._heard_lock = threading.Lock()
        if self.bundles:
            self._model = self.model

    @property
    def model(self) -> Transcriber:
        if self._model is None:
            self._model = Transcriber(self.bundle(MODEL_NAME))
        return self._model

    def next_phrase(self) -> Phrase:
        bar = float(self.context.beats_per_bar)
        if self.live is not None:
            return self.heard_phrase()
        if self["loop"] and self.last:
            phrase = self.last[self._loop_at % len(self.last)]
            self._loop_at += 1
            return phrase
        return Phrase.of([], bar, self.name)

    def heard_phrase(self) -> Phrase:
        """One bar of the live notes that ended since the last call (seconds -> beats, at their place in the bar)."""
        with self._heard_lock:
            heard, self._heard = self._heard, []
        bpb = self.context.beats_per_bar
        notes = [n for p in phrases_of(heard, float(self.context.tempo()), bpb, self["channel"] - 1, self.name)
                 for n in p.notes]
        return Phrase.of(notes, float(bpb), self.name)

    def _on_live_note(self, kind: str, note: TrackedNote, decided_at: float) -> None:  # the AudioInput's worker
        if kind == "off":
            with self._heard_lock:
                self._heard.append(note)

    def listen(self, device: str) -> None:
        from .audio_in import AudioInput

        self.unlisten()
        live = AudioInput(self.model, self._on_live_note, device=device, onset_threshold=self["onset_threshold"])
        self.live = live.start()
        self.context.report(f"listening to {live.device_name} "
                            f"(+{1000 * live.latency_seconds:.0f} ms to a note-on, notes replay a bar later)")

    def unlisten(self) -> None:
        live, self.live = self.live, None
        if live is not None:
            live.stop()
            self.context.report(f"stopped listening to {live.device_name}")

    def close(self) -> None:
        self.unlisten()

    def action_listen(self, device: str) -> None:
        self.listen(device)

    def action_unlisten(self) -> None:
        self.unlisten()

    def action_file(self, path_text: str) -> list[Phrase]:
        path = Path(path_text).expanduser()
        if not path_text:
            raise InputError("file needs the path of a WAV file")
        notes = self.model.transcribe_file(path, onset_threshold=self["onset_threshold"])
        phrases = phrases_of(notes, float(self.context.tempo()), self.context.beats_per_bar, self["channel"] - 1,
                             self.name)
        self.context.report(f"{path.name}: {len(notes)} notes, {len(phrases)} bars")
        log.info("%s: %d notes in %d bars", path, len(notes), len(phrases))
        self.last, self._loop_at = phrases, 0
        return phrases or [Phrase.of([], float(self.context.beats_per_bar), self.name)]

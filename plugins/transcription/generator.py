"""The live "transcription" generator: ``/cmt/transcription/file <path>`` streams a recording's notes in time.

The file is transcribed when the action arrives (about 100x faster than real
time), its notes are turned from seconds into beats at the current tempo and
cut into one-bar phrases, which the host plays from the next bar. Between
files (or with ``loop`` off, after one) the generator plays silent bars.

``/cmt/transcription/listen [device]`` transcribes an input device live
(:mod:`plugins.transcription.audio_in`; "" = the default input; ``jack`` or
``jack:<port>`` = a JACK audio port): each note is kept in seconds since
listening began from the moment it starts. The heard time is cut into bars on
a grid set by the first bar the host asks for, each ending ``margin`` (the
input's latency + 50 ms) before the host asks: every bar the host asks for
carries the notes that started in the previous grid bar, at their place in it
(the same seconds -> beats mapping as ``file``), so live notes replay one bar
(+ margin) later in the rhythm they were played, notes held across the barline
too (cut where they had sounded so far). ``unlisten`` closes the device.
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


def duet_channels(heard: dict[str, list[TrackedNote]], channel: int) -> dict[str, int]:
    """The channel (0..15) of each instrument heard in a duet: ``channel``, then the next ones, in the order of
    the five instruments (flute, piano, alto sax, trumpet, violin), so a pair always lands the same way."""
    from .labels import INSTRUMENT_NAMES

    ranked = [name for name in INSTRUMENT_NAMES if heard.get(name)]
    return {name: (channel + k) % 16 for k, name in enumerate(ranked)}


def phrases_of(notes: list[TrackedNote] | dict[str, list[TrackedNote]], bpm: float, beats_per_bar: int, channel: int,
               name: str) -> list[Phrase]:
    """Bars of notes (seconds -> beats at ``bpm``); a note belongs to the bar it starts in. ``notes`` may be a
    duet's ``{instrument: notes}``: each instrument plays on its own channel (:func:`duet_channels`)."""
    if isinstance(notes, dict):
        chans = duet_channels(notes, channel)
        tagged = [(n, chans[k]) for k, ns in notes.items() if k in chans for n in ns]
    else:
        tagged = [(n, channel) for n in notes]
    bars: dict[int, list[Note]] = {}
    beats_per_second = bpm / 60.0
    for n, channel in tagged:
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
        Action("file", (Param("path", str, "", doc="an audio file: WAV, FLAC, OGG, MP3... (any rate, mono or stereo)"),),
               doc="transcribe a recording and play its notes from the next bar"),
        Action("listen", (Param("device", str, "", doc="input device index or name (empty: the default input); jack or jack:<port> for a JACK audio input"),),
               doc="transcribe an audio input live (a sounddevice device, or jack:<port>); its notes replay a bar later"),
        Action("unlisten", doc="stop transcribing the audio input device"),
        Action("duet", (Param("path", str, "", doc="an audio file of two of the five instruments playing together"),),
               doc="transcribe a duet and play each instrument on its own channel (channel, channel + 1) from the next bar"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._model: Transcriber | None = None
        self.last: list[Phrase] = []
        self._loop_at = 0
        self.live = None  # AudioInput while listening
        self._heard: list[TrackedNote] = []   # started since the last bar (the tracker's objects: pitch may settle)
        self._closed: set[int] = set()          # ids of those that have ended
        self._grid_end: float | None = None      # stream seconds where the next bar to replay ends
        self._heard_lock = threading.Lock()
        self._duet = None   # the duet model, loaded on the first duet action (onnx_models/transcription-duet)
        self._duet_channels: dict[str, int] = {}   # the last file's duet: instrument -> channel 0..15
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
        """One bar of the live notes that started since the last call (seconds -> beats, at their place in the
        bar); a note still sounding ends where it had sounded so far."""
        live = self.live
        now = live.stream.seconds if live is not None else 0.0
        bpb = self.context.beats_per_bar
        bps = float(self.context.tempo()) / 60.0
        bar_s = bpb / bps
        if self._grid_end is None:   # the first bar: the grid ends margin before now, this bar is empty
            margin = (live.latency_seconds if live is not None else 0.0) + 0.05
            self._grid_end = now - margin
        start, end = self._grid_end, self._grid_end + bar_s
        self._grid_end = end
        with self._heard_lock:
            mine = [n for n in self._heard if n.start < end]
            self._heard = [n for n in self._heard if n.start >= end]
            closed = self._closed
            self._closed = {i for i in closed if any(id(n) == i for n in self._heard)}
        notes = []
        for n in mine:
            stop = n.end if id(n) in closed else max(now, n.start + 0.05)   # still sounding: as heard so far
            at = n.start - start if n.start >= start else (n.start - start) % bar_s   # a late one: its place
            notes.append(Note(n.pitch, n.velocity, at * bps, max((stop - n.start) * bps, 1e-3), self["channel"] - 1))
        return Phrase.of(notes, float(bpb), self.name)

    def _on_live_note(self, kind: str, note: TrackedNote, decided_at: float) -> None:  # the AudioInput's worker
        with self._heard_lock:
            if kind == "on":
                self._heard.append(note)
            else:
                self._closed.add(id(note))

    def listen(self, device: str) -> None:
        from .audio_in import AudioInput

        self.unlisten()
        live = AudioInput(self.model, self._on_live_note, device=device, onset_threshold=self["onset_threshold"])
        self.live = live.start()
        self.context.report(f"listening to {live.device_name} "
                            f"(+{1000 * live.latency_seconds:.0f} ms to a note-on, notes replay a bar later)")

    def unlisten(self) -> None:
        live, self.live = self.live, None
        self._grid_end = None
        with self._heard_lock:
            self._heard, self._closed = [], set()
        if live is not None:
            live.stop()
            self.context.report(f"stopped listening to {live.device_name}")

    def close(self) -> None:
        self.unlisten()

    def action_listen(self, device: str) -> None:
        self.listen(device)

    def action_unlisten(self) -> None:
        self.unlisten()

    def channels(self) -> dict[str, int]:
        """The ``channel`` parameter, and while a duet plays, each of its instruments' channels."""
        out = super().channels()
        if self.last and self._duet_channels:
            out.update({f"{self.name} {k}": c + 1 for k, c in self._duet_channels.items()})
        return out

    def action_file(self, path_text: str) -> list[Phrase]:
        path = Path(path_text).expanduser()
        if not path_text:
            raise InputError("file needs the path of an audio file (WAV, FLAC, OGG, MP3...)")
        notes = self.model.transcribe_file(path, onset_threshold=self["onset_threshold"])
        self._duet_channels = {}
        phrases = phrases_of(notes, float(self.context.tempo()), self.context.beats_per_bar, self["channel"] - 1,
                             self.name)
        self.context.report(f"{path.name}: {len(notes)} notes, {len(phrases)} bars")
        log.info("%s: %d notes in %d bars", path, len(notes), len(phrases))
        self.last, self._loop_at = phrases, 0
        return phrases or [Phrase.of([], float(self.context.beats_per_bar), self.name)]

    def action_duet(self, path_text: str) -> list[Phrase]:
        from .duet import DuetTranscriber

        path = Path(path_text).expanduser()
        if not path_text:
            raise InputError("duet needs the path of an audio file (WAV, FLAC, OGG, MP3...)")
        if self._duet is None:
            self._duet = DuetTranscriber.load()
        heard = self._duet.transcribe_file(path, onset_threshold=self["onset_threshold"])
        phrases = phrases_of(heard, float(self.context.tempo()), self.context.beats_per_bar, self["channel"] - 1,
                             self.name)
        chans = duet_channels(heard, self["channel"] - 1)
        self._duet_channels = chans
        said = ", ".join(f"{k} {len(heard[k])} notes on channel {c + 1}" for k, c in chans.items()) or "no notes"
        self.context.report(f"{path.name}: {said}, {len(phrases)} bars")
        self.last, self._loop_at = phrases, 0
        return phrases or [Phrase.of([], float(self.context.beats_per_bar), self.name)]

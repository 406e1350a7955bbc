"""The live "tagger" generator: listens, and every bar says what it hears on OSC. It plays no notes.

Sources (one at a time; each action starts the generator):

- ``/cmt/tagger/listen [device]`` -- an audio input device (sounddevice;
  "" = the default input), see :class:`~plugins.tagger.sources.DeviceSource`;
- ``/cmt/tagger/file <path>`` -- a file (WAV, FLAC, OGG, MP3, ...) heard in
  real time from now, silently (:class:`~plugins.tagger.sources.FileSource`);
- ``/cmt/tagger/host [soundfont]`` -- what the host itself plays: every generator's notes
  (``context.played``) up to the clock's beat, rendered in-process with
  FluidSynth (:mod:`plugins.tagger.render`; sines without it);
- ``/cmt/tagger/unlisten`` -- stop.

Each time the host asks for the next bar (``next_phrase``, on this generator's
worker thread, about one bar ahead of the clock) the newest ``window_seconds``
of audio are tagged and three messages go out::

    /cmt/tagger/tags <json>        {"bar", "seconds", "source", "silent", "tags": {group: [tag...]},
                                    "probabilities": {tag: p}, "compute_ms"}
    /cmt/tagger/caption <text>     the sentence (``style`` plain or prompt); "silence" when silent
    /cmt/tagger/embedding <f...>   the encoder's vector, D floats (``send_embedding`` param)

So what was heard up to that moment is reported within one bar.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from bridge.api import Action, Generator, InputError, ModelError, Param, Phrase

from .caption import STYLES, Captioner
from .tagger import MODEL_NAME, Tagger

log = logging.getLogger(__name__)

KEEP_SECONDS = 30.0  # an input device's ring buffer (>= any model window)


class TaggerGenerator(Generator):
    name = "tagger"
    description = "listens (an input device, a file heard in time, or the host's own notes) and says what it " \
                  "hears every bar: tags, a sentence and the encoder's embedding on OSC; plays no notes"
    models = (MODEL_NAME,)
    params = (
        Param("style", str, "plain", doc="the sentence: plain, or an image prompt", choices=STYLES),
        Param("threshold", float, 0.0, 0.0, 1.0, doc="one threshold for every tag (0: the model's per-tag ones)"),
        Param("send_embedding", bool, True, doc="send /cmt/tagger/embedding every bar"),
        Param("loop", bool, False, doc="loop the file given to 'file'"),
    )
    actions = (
        Action("file", (Param("path", str, "", doc="an audio file: WAV, FLAC, OGG, MP3 or what FFmpeg decodes"),),
               doc="hear a file in real time (silently) from now and tag it every bar"),
        Action("listen", (Param("device", str, "", doc="input device index or name (empty: the default input)"),),
               doc="tag an audio input device every bar (needs sounddevice)"),
        Action("host", (Param("soundfont", str, "", doc='a GM soundfont ("" = the first one found)'),),
               doc="hear what the host itself plays (every generator's notes, rendered in-process with FluidSynth, "
                   "or sines without it)"),
        Action("unlisten", doc="stop listening to the file, the device or the host"),
    )
    messages = (
        Action("tags", (Param("json", str, "{}", doc="bar, seconds, source, silent, tags by group, "
                                                     "probabilities, compute_ms"),),
               doc="every bar while listening: the tags of the last window heard"),
        Action("caption", (Param("text", str, "", doc="the sentence, or 'silence'"),),
               doc="every bar while listening: the tags as a sentence (style plain or prompt)"),
        Action("embedding", (Param("value", float, 0.0, doc="one float per dimension of the encoder's vector"),),
               doc="every bar while listening (param send_embedding): the encoder's embedding of the last window"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._tagger: Tagger | None = None
        self.source: Any = None
        self.bars = 0
        if self.bundles:
            self._tagger = Tagger(self.bundle(MODEL_NAME))

    @property
    def tagger(self) -> Tagger:
        if self._tagger is None:
            raise ModelError(f"tagger needs the model {MODEL_NAME} (not loaded)")
        return self._tagger

    def captioner(self) -> Captioner:
        t = self.tagger
        c = Captioner(t.tags, t.groups, t.thresholds)
        return c.with_thresholds({"*": self["threshold"]}) if self["threshold"] > 0 else c

    def on_param(self, name: str, value: Any) -> None:
        if name == "loop" and hasattr(self.source, "loop"):
            self.source.loop = bool(value)

    def prepare(self) -> None:
        if self._tagger is not None:
            self._tagger.tag_window(np.zeros(self._tagger.window, np.float32))   # warm up: the first run allocates

    # -- playing -------------------------------------------------------------
    def next_phrase(self) -> Phrase:
        """One silent bar; while a source is on, the newest window is tagged and sent first."""
        if self.source is not None:
            self.hear()
        return Phrase.of([], float(self.context.beats_per_bar), self.name)

    def hear(self) -> dict | None:
        """Tag the newest window of the source and send tags, caption and embedding; returns the tags dict."""
        source, t = self.source, self.tagger
        samples = source.latest(t.window)
        if len(samples) == 0:
            return None
        began = time.perf_counter()
        probs, embedding, silent = t.tag_window(samples)
        captioner = self.captioner()
        caption = captioner.sentence(probs, self["style"], silent)
        chosen: dict[str, list[str]] = {}
        for c in ([] if silent else captioner.choose(probs)):
            chosen.setdefault(c.group, []).append(c.tag)
        self.bars += 1
        tags = {"bar": self.bars, "seconds": round(source.seconds, 3), "source": source.describe,
                "silent": bool(silent), "tags": chosen,
                "probabilities": {tag: round(float(p), 4) for tag, p in zip(t.tags, probs)},
                "compute_ms": round(1000 * (time.perf_counter() - began), 2)}
        self.context.send("tags", json.dumps(tags, separators=(",", ":")))
        self.context.send("caption", caption)
        if self["send_embedding"]:
            self.context.send("embedding", *(float(v) for v in embedding))
        if source.ended:
            self.context.report(f"tagger: {source.describe} ended")
            self._stop_source()
        return tags

    # -- actions -----------------------------------------------------------
    def action_unlisten(self) -> None:
        if self.source is not None:
            self.context.report(f"tagger: stopped listening to {self.source.describe}")
        self._stop_source()

    def action_file(self, path: str) -> list[Phrase]:
        from .sources import FileSource

        if not path:
            raise InputError("file needs the path of an audio file")
        return self._listen(FileSource(Path(path), self.tagger.rate, loop=self["loop"]))

    def action_listen(self, device: str) -> list[Phrase]:
        from .sources import DeviceSource

        return self._listen(DeviceSource(device, self.tagger.rate,
                                         max(KEEP_SECONDS, 2 * self.tagger.window_seconds)))

    def action_host(self, soundfont: str) -> list[Phrase]:
        from .render import make_renderer
        from .sources import HostSource

        return self._listen(HostSource(self.context, self.tagger.rate, make_renderer(self.tagger.rate, soundfont)))

    def _listen(self, source: Any) -> list[Phrase]:
        """Swap to ``source``; the silent bar returned starts the generator."""
        self._stop_source()
        self.source = source.start()
        self.bars = 0
        self.context.report(f"tagger: listening to {source.describe}; tags every bar")
        return [Phrase.of([], float(self.context.beats_per_bar), self.name)]

    def _stop_source(self) -> None:
        source, self.source = self.source, None
        if source is not None:
            source.stop()

    def close(self) -> None:
        self._stop_source()

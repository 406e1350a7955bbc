"""The live "visuals" generator: follows what is heard and sends the shader's parameters over OSC. No notes.

Sources (one at a time; each action starts the generator), as the tagger's:

- ``/cmt/visuals/listen [device]`` -- an audio input device (sounddevice);
- ``/cmt/visuals/file <path>`` -- a file heard in real time from now, silently;
- ``/cmt/visuals/host [soundfont]`` -- what the host itself plays (every generator's
  notes, rendered in-process with FluidSynth; sines without it);
- ``/cmt/visuals/unlisten`` -- stop.

While a source is on, a frame thread ticks at ``fps`` against the monotonic
clock (deadlines, not sleeps, so the rate does not drift) and sends, per frame::

    /cmt/visuals/params  f*12   shape[8], phase, zoom, rotation, warp  (the shader's uniforms)
    /cmt/visuals/pulse   f      0..1, the beat flash
    /cmt/visuals/palette f*12   cosine palette a, b, c, d (rgb each)

The Jitter patch (max_patches/cmt-bridge-visuals.maxpat) feeds them to the
same shader in ``jit.gl.slab``; its Pd twin receives them.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bridge.api import Action, Generator, InputError, ModelError, Param, Phrase

from . import shader as S

log = logging.getLogger(__name__)

MODEL_NAME = "tagger"
KEEP_SECONDS = 30.0
MAX_LATE_FRAMES = 3        # behind by more than this: skip ahead instead of bursting


class VisualsGenerator(Generator):
    name = "visuals"
    description = "follows what is heard (an input device, a file heard in time, or the host's own notes) and " \
                  "sends a shader's parameters over OSC at a steady frame rate; plays no notes"
    models = (MODEL_NAME,)
    params = (
        Param("fps", float, 30.0, 1.0, 120.0, unit="Hz", doc="frames (parameter vectors) sent per second"),
        Param("seed", int, 0, 0, 2 ** 31 - 1, doc="the walk's seed: another seed, another look at the same music"),
        Param("sensitivity", float, 1.0, 0.1, 4.0, doc="how hard onsets kick the motion and the pulse"),
        Param("loop", bool, False, doc="loop the file given to 'file'"),
    )
    actions = (
        Action("file", (Param("path", str, "", doc="an audio file: WAV, FLAC, OGG, MP3 or what FFmpeg decodes"),),
               doc="follow a file heard in real time (silently) from now"),
        Action("listen", (Param("device", str, "", doc="input device index or name (empty: the default input)"),),
               doc="follow an audio input device (needs sounddevice)"),
        Action("host", (Param("soundfont", str, "", doc='a GM soundfont ("" = the first one found)'),),
               doc="follow what the host itself plays (its notes rendered in-process)"),
        Action("unlisten", doc="stop following; the frames stop"),
    )
    messages = (
        Action("params", (Param("value", float, 0.0, doc="shape[8], phase, zoom, rotation, warp (12 floats)"),),
               doc="every frame: the shader's scene uniforms"),
        Action("pulse", (Param("value", float, 0.0, 0.0, 1.0, doc="the beat flash"),),
               doc="every frame: the pulse, up at an onset and decaying"),
        Action("palette", (Param("value", float, 0.0, doc="cosine palette a, b, c, d (12 floats)"),),
               doc="every frame: the palette the tags chose"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._tagger = None
        self.source: Any = None
        self.steering: Any = None
        self.frames_sent = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        if self.bundles:
            from plugins.tagger.tagger import Tagger

            self._tagger = Tagger(self.bundle(MODEL_NAME))

    @property
    def tagger(self):
        if self._tagger is None:
            raise ModelError(f"visuals needs the model {MODEL_NAME} (not loaded)")
        return self._tagger

    def on_param(self, name: str, value: Any) -> None:
        if name == "loop" and hasattr(self.source, "loop"):
            self.source.loop = bool(value)
        elif name == "sensitivity" and self.steering is not None:
            self.steering.sensitivity = float(value)
        elif name in ("fps", "seed") and self.source is not None:
            self._start_frames()          # a new rate or seed: a new walk from here

    def prepare(self) -> None:
        if self._tagger is not None:
            self._tagger.tag_window(np.zeros(self._tagger.window, np.float32))

    def next_phrase(self) -> Phrase:
        """One silent bar: the frames run on their own thread while a source is on."""
        return Phrase.of([], float(self.context.beats_per_bar), self.name)

    # -- frames ---------------------------------------------------------------
    def send_frame(self, vector: np.ndarray) -> None:
        v = [float(x) for x in np.asarray(vector, np.float64)]
        self.context.send("params", *(v[i] for i in S.SCENE))
        self.context.send("pulse", min(1.0, max(0.0, v[S.PULSE])))
        self.context.send("palette", *v[S.PALETTE])
        self.frames_sent += 1

    def _run_frames(self, source: Any, steering: Any, fps: float, stop: threading.Event) -> None:
        period = 1.0 / fps
        deadline = time.monotonic()
        try:
            while not stop.is_set():
                with self._lock:
                    vector = steering.frame(source.latest)
                self.send_frame(vector)
                if getattr(source, "ended", False):
                    self.context.report(f"visuals: {source.describe} ended")
                    break
                deadline += period
                late = time.monotonic() - deadline
                if late > MAX_LATE_FRAMES * period:
                    deadline = time.monotonic()      # skip ahead: the next frame is due now
                stop.wait(max(0.0, deadline - time.monotonic()))
        except Exception as e:  # noqa: BLE001 - a failing frame stops the frames, never the host
            log.exception("visuals: frame thread failed")
            self.context.report(f"visuals: stopped ({e})")

    def _start_frames(self) -> None:
        from .live import LiveSteering

        self._stop_frames()
        self.steering = LiveSteering(self.tagger, self["fps"], self["seed"], sensitivity=self["sensitivity"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_frames, name="visuals-frames", daemon=True,
                                        args=(self.source, self.steering, self["fps"], self._stop))
        self._thread.start()

    def _stop_frames(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    # -- actions -------------------------------------------------------------
    def action_unlisten(self) -> None:
        if self.source is not None:
            self.context.report(f"visuals: stopped following {self.source.describe}")
        self._stop_source()

    def action_file(self, path: str) -> list[Phrase]:
        from plugins.tagger.sources import FileSource

        if not path:
            raise InputError("file needs the path of an audio file")
        return self._follow(FileSource(Path(path), self.tagger.rate, loop=self["loop"]))

    def action_listen(self, device: str) -> list[Phrase]:
        from plugins.tagger.sources import DeviceSource

        return self._follow(DeviceSource(device, self.tagger.rate, max(KEEP_SECONDS, 2 * self.tagger.window_seconds)))

    def action_host(self, soundfont: str) -> list[Phrase]:
        from plugins.tagger.render import make_renderer
        from plugins.tagger.sources import HostSource

        return self._follow(HostSource(self.context, self.tagger.rate, make_renderer(self.tagger.rate, soundfont)))

    def _follow(self, source: Any) -> list[Phrase]:
        self._stop_source()
        self.source = source.start()
        self._start_frames()
        self.context.report(f"visuals: following {source.describe}; {self['fps']:g} frames a second on OSC")
        return [Phrase.of([], float(self.context.beats_per_bar), self.name)]

    def _stop_source(self) -> None:
        self._stop_frames()
        source, self.source = self.source, None
        if source is not None:
            source.stop()

    def close(self) -> None:
        self._stop_source()

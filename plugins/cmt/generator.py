"""The live "cmt" generator: multi-track music one bar ahead of the clock, steered by density and strength.

Each ``next_phrase()`` is one bar from a :class:`plugins.cmt.sampling.BarSampler`
that keeps its recurrent state, so bar 500 costs what bar 1 cost. The bar's
controls come from one of three sources:

- ``manual`` (the default): the ``density`` and ``strength`` parameters
  (``/cmt/cmt/density 5``, a Max slider, a MIDI CC);
- ``video <path>``: the per-bar controls of a video file laid on the host's
  bar grid at the current tempo, bar 1 of the video from the next bar line;
  after its last bar the source goes back to manual (reported);
- ``camera <index>``: motion of a live camera, measured on a background thread;
  each bar gets the controls of the bar that was just seen.

``control`` is CMT's C: how often the requested class overrides the one the
model would sample (0 = the model ignores the controls, the uncontrolled
baseline; 1 = always). ``guide`` (on by default) keeps each bar's number of
onset positions inside the class its bar token declares, by masking the
sampler's choices; off, the model alone decides (bench/bench_cmt.py measures
both). Each part plays its instrument (:mod:`plugins.cmt.parts`: register,
role, chord size, dynamics from ``velocity`` and ``accent``) on its own channel
(``<part>_channel``, default lead 3, strings 4, piano 5, bass 6, guitar 7,
drums 10; channel 0 switches a part off). With ``seed`` -1 the generator draws a
seed and shows it in ``/cmt/status``, so a liked piece can be made again.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bridge.api import Action, Generator, InputError, Note, Param, Phrase

from . import tokens as T
from .params import PARAMS, channels_of
from .parts import DEFAULT_RULES, arrange, rules_from_manifest
from .sampling import EXPECT, MODEL_NAME, BarSampler, Sampling

log = logging.getLogger(__name__)

def draw_seed(seed: int) -> int:
    """``seed`` itself, or a fresh one (0 .. 2**31 - 1) for -1: every piece has a seed that makes it again."""
    return int(seed) if seed >= 0 else int(np.random.SeedSequence().entropy % (2 ** 31))


class CameraMotion:
    """Reads a camera on a thread and keeps per-bar controls of what it saw (bars of the wall clock at ``tempo()``)."""

    def __init__(self, capture, beats_per_bar: float, tempo: Callable[[], float], method: str = "dis") -> None:
        from .video import LiveMotion

        self.capture, self.tempo = capture, tempo
        self.motion = LiveMotion(beats_per_bar, method)
        self.beats_per_bar = beats_per_bar
        self.t0 = time.monotonic()
        self._beat, self._last = 0.0, self.t0
        self.frames = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cmt-camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                ok, frame = self.capture.read()
                if not ok:
                    self.error = "the camera stopped giving frames"
                    return
                now = time.monotonic()
                with self._lock:
                    self._beat += (now - self._last) * self.tempo() / 60.0
                    self._last = now
                    self.motion.add(frame, now - self.t0, self._beat)
                    self.frames += 1
        except Exception as e:  # a broken camera must not take the generator down
            self.error = f"camera failed: {e}"

    def controls(self, sensitivity: float = 1.0) -> tuple[int, int]:
        """(density, strength) of the last whole bar seen (the current one while the first is still running)."""
        with self._lock:
            bar = int(self._beat // self.beats_per_bar)
            return self.motion.bar_controls(max(0, bar - 1), sensitivity)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        try:
            self.capture.release()
        except Exception:
            pass


class CMTGenerator(Generator):
    name = "cmt"
    description = "Controllable Music Transformer: multi-track bars steered by density/strength, a video or a camera"
    models = (MODEL_NAME,)
    model_expect = {MODEL_NAME: EXPECT}
    voices = {i.channel: (i.name, i.program) for i in T.INSTRUMENTS}   # the defaults; see voice_map()
    params = PARAMS
    actions = (
        Action("video", (Param("path", str, "", doc="a video file (mp4, mov, avi...)"),),
               doc="play in time with a video: its motion sets density and strength bar by bar"),
        Action("camera", (Param("index", int, 0, 0, 16, doc="camera number (0 = the first)"),),
               doc="let a live camera's motion set density and strength"),
        Action("manual", doc="back to the density/strength parameters (stops video and camera)"),
        Action("restart", doc="forget the music so far and start a new piece from the next bar"),
    )

    def __init__(self, models: dict | None = None, context=None, camera_factory=None) -> None:
        super().__init__(models, context)
        self.source = "manual"
        self.video_controls: list[tuple[int, int]] = []
        self.video_bar = 0
        self.camera: CameraMotion | None = None
        self.camera_factory = camera_factory  # tests pass a fake capture; default video.open_camera
        self.bars = 0
        self.seed_used: int | None = None     # the seed of the piece playing (drawn when seed is -1)
        self._sampler: BarSampler | None = None
        self.rules = dict(DEFAULT_RULES)
        if self.bundles:
            self.rules = rules_from_manifest(self.bundle(MODEL_NAME).manifest)
            self._new_sampler()

    # -- model ---------------------------------------------------------------------------------
    def _sampling(self) -> Sampling:
        t, p = self["temperature"], self["top_p"]
        return Sampling(t, p, {"pitch": (self["pitch_temperature"], p),
                               "duration": (self["duration_temperature"], p),
                               "instrument": (self["instrument_temperature"], p)})

    def _new_sampler(self) -> BarSampler:
        self.seed_used = draw_seed(self["seed"])
        self._sampler = BarSampler.from_bundle(self.bundle(MODEL_NAME), beats_per_bar=float(self.context.beats_per_bar),
                                               control=self["control"], sampling=self._sampling(),
                                               seed=self.seed_used, guide=self["guide"])
        log.info("cmt: seed %d", self.seed_used)
        return self._sampler

    @property
    def sampler(self) -> BarSampler:
        return self._sampler if self._sampler is not None else self._new_sampler()

    def on_param(self, name: str, value: Any) -> None:
        if self._sampler is None:
            return
        if name == "control":
            self._sampler.control = value
        elif name == "guide":
            self._sampler.guide = bool(value)
        elif name in ("temperature", "top_p") or name.endswith("_temperature"):
            self._sampler.sampling = self._sampling()
        elif name == "seed":
            self.seed_used = draw_seed(value)
            self._sampler.rng = np.random.default_rng(self.seed_used)

    def prepare(self) -> None:
        # warm the graphs on a throw-away sampler so the first real bar is as fast as the rest
        BarSampler.from_bundle(self.bundle(MODEL_NAME), beats_per_bar=float(self.context.beats_per_bar), seed=0).bar(3, 2)

    # -- controls -------------------------------------------------------------------------------
    def controls(self) -> tuple[int, int]:
        """(density, strength) for the bar about to be generated, from the current source."""
        if self.source == "video":
            if self.video_bar < len(self.video_controls):
                c = self.video_controls[self.video_bar]
                self.video_bar += 1
                return c
            self.source = "manual"
            self.context.report(f"the video's {len(self.video_controls)} bars are over; back to manual controls")
        if self.source == "camera" and self.camera is not None:
            if self.camera.error:
                err = self.camera.error
                self._close_camera()
                self.source = "manual"
                self.context.report(f"{err}; back to manual controls")
            else:
                return self.camera.controls(self["sensitivity"])
        return self["density"], self["strength"]

    # -- channels and parts ----------------------------------------------------------------------
    def part_channels(self) -> dict[str, int]:
        """``{part: channel 1..16}`` of the parts switched on."""
        return channels_of(self.values)

    def voice_map(self) -> dict[int, tuple[str, int | None]]:
        programs = {i.name: i.program for i in T.INSTRUMENTS}
        return {ch - 1: (p, programs[p]) for p, ch in self.part_channels().items()}

    def channels(self) -> dict[str, int]:
        return self.part_channels()

    def state(self) -> dict[str, Any]:
        return {"seed": self.seed_used}

    def arranged(self, notes: dict[str, list[Note]], strength: int) -> dict[str, list[Note]]:
        """One sampled bar as the parts play it (:func:`plugins.cmt.parts.arrange` with this generator's values)."""
        chans = self.part_channels()
        return arrange(notes, rules=self.rules, channels=chans, parts=tuple(chans), velocity=self["velocity"],
                       accent=self["accent"],
                       strength=strength, beats_per_bar=float(self.context.beats_per_bar), enforce=self["arrange"])

    # -- playing -------------------------------------------------------------------------------
    def next_phrase(self) -> Phrase:
        density, strength = self.controls()
        notes, tokens = self.sampler.bar(density, strength)
        flat = [n for part in self.arranged(notes, strength).values() for n in part]
        length = float(self.context.beats_per_bar)
        flat = [Note(n.pitch, n.velocity, n.start, min(n.duration, 4 * length), n.channel) for n in flat]
        self.bars += 1
        return Phrase.of(flat, length, self.name, bar=self.bars, density=int(density), strength=int(strength),
                         source=self.source, tokens=int(len(tokens)))

    def action_video(self, path: str) -> list[Phrase]:
        from .video import controls_from_speed, motion_curve

        if not path:
            raise InputError("video needs the path of a video file")
        p = Path(path).expanduser()
        bpb = float(self.context.beats_per_bar)
        times, speed, seconds, fps = motion_curve(p)   # InputError for unreadable / empty videos
        bars = max(1, round(seconds * self.context.tempo() / 60.0 / bpb))   # the video on the host's bar grid
        c = controls_from_speed(times, speed, seconds, fps, bpb, bars, self["sensitivity"])
        self._close_camera()
        self.video_controls = list(zip((int(d) for d in c.density), (int(s) for s in c.strength)))
        self.video_bar, self.source = 0, "video"
        self.context.report(f"video {p.name}: {c.bars} bars at the host's tempo, from the next bar")
        return [self.next_phrase()]

    def action_camera(self, index: int) -> None:
        from .video import open_camera

        capture = (self.camera_factory or open_camera)(index)   # InputError when there is none
        self._close_camera()
        self.camera = CameraMotion(capture, float(self.context.beats_per_bar), self.context.tempo)
        self.source = "camera"
        self.context.report(f"camera {index} drives density and strength")

    def action_manual(self) -> None:
        self._close_camera()
        self.source = "manual"

    def action_restart(self) -> list[Phrase]:
        self._new_sampler()
        self.bars = 0
        return [self.next_phrase()]

    def _close_camera(self) -> None:
        if self.camera is not None:
            self.camera.close()
            self.camera = None

    def close(self) -> None:
        self._close_camera()

"""The live "midime" generator: MusicVAE phrases, interpolations and a personal MidiMe, bar by bar.

``next_phrase()`` returns ``variations`` new 2-bar samples at once (from the
personal MidiMe prior when one is set); the host plays them in order and asks
again when they run out (or drops them when a parameter changes). Actions
return the phrases they make, which the host plays from the next bar in place
of what was queued.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bridge.api import Action, Generator, InputError, Param, Phrase, melody_notes

from . import phrases
from .midime import MidiMe
from .params import PARAMS
from .vae import EXPECT, MODEL_NAME, MusicVAE

log = logging.getLogger(__name__)

LEARN_TASK = "learn"  # the host prefixes the generator: /cmt/progress midime/learn <fraction>


class MidiMeGenerator(Generator):
    name = "midime"
    description = "MusicVAE 2-bar melodies: sample, interpolate, and personalise on your own playing (MidiMe)"
    models = (MODEL_NAME,)
    model_expect = {MODEL_NAME: EXPECT}  # the host checks the graphs' semantic inputs/outputs on load
    params = PARAMS
    actions = (
        Action("sample", (Param("n", int, 0, 0, 16, unit="phrases", doc="0 = the variations parameter"),),
               doc="play n new 2-bar samples"),
        Action("interpolate", (Param("steps", int, 0, 0, 16, unit="phrases", doc="0 = the steps parameter"),),
               doc="morph from phrase A to phrase B in `steps` phrases"),
        Action("learn", (Param("bars", int, 0, 0, 16, unit="bars", doc="0 = the bars parameter"),),
               doc="personalise (MidiMe) on the last bars played into the MIDI input"),
        Action("learn_notes", (Param("notes", str, "[]", doc="JSON: [[pitch, start_beats, duration_beats, "
                                                             "velocity], ...] (a clip's notes)"),),
               doc="personalise (MidiMe) on notes sent as JSON (the Live device's Learn from clip), no MIDI routing"),
        Action("phrase_a", (Param("path", str, "", doc="a MIDI file"),), doc="set interpolation start from a file"),
        Action("phrase_b", (Param("path", str, "", doc="a MIDI file"),), doc="set interpolation end from a file"),
        Action("capture_a", doc="set interpolation start from the last 2 bars played"),
        Action("capture_b", doc="set interpolation end from the last 2 bars played"),
        Action("personal", (Param("path", str, "", doc="a .midime file (\"\" = back to plain MusicVAE)"),),
               doc="sample from a personal MidiMe model"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._vae: MusicVAE | None = None
        self.ends: dict[str, np.ndarray] = {}
        self.personal: MidiMe | None = None
        self.personal_name = ""
        self._rng = np.random.default_rng()
        if self.bundles:  # check the model's vocabulary now, so a mismatch is a start-up error
            self._vae = self.vae

    # -- model and randomness -------------------------------------------------------
    @property
    def vae(self) -> MusicVAE:
        if self._vae is None:
            self._vae = MusicVAE(self.bundle(MODEL_NAME))
        return self._vae

    def on_param(self, name: str, value: Any) -> None:
        if name == "seed":
            self._rng = np.random.default_rng(None if value < 0 else value)

    def _action_rng(self) -> np.random.Generator:
        """A fixed seed makes every action repeat exactly; -1 keeps drawing new randomness."""
        seed = self["seed"]
        return np.random.default_rng(seed) if seed >= 0 else self._rng

    def prepare(self) -> None:
        self.vae.decode(np.zeros((1, self.vae.z_dim), np.float32))

    # -- playing --------------------------------------------------------------------
    def _samples(self, n: int, rng: np.random.Generator) -> list[Phrase]:
        temperature = self["temperature"]
        if self.personal is not None:
            tokens = self.vae.decode(self.personal.sample_latents(n, rng), temperature, rng)
        else:
            tokens = self.vae.sample(n, temperature, rng)
        meta = {"kind": "sample", "temperature": temperature, "personal": self.personal_name}
        return [phrases.tokens_phrase(t, self["channel"] - 1, self.name, index=i, **meta)
                for i, t in enumerate(tokens)]

    def next_phrase(self) -> list[Phrase]:
        return self._samples(self["variations"], self._rng)

    def action_sample(self, n: int) -> list[Phrase]:
        return self._samples(n or self["variations"], self._action_rng())

    def action_interpolate(self, steps: int) -> list[Phrase]:
        missing = [k for k in ("a", "b") if k not in self.ends]
        if missing:
            raise InputError(f"interpolate needs phrases A and B (missing {' and '.join(missing).upper()}): set "
                             f"them with phrase_a/phrase_b <file.mid> or capture_a/capture_b")
        steps = steps or self["steps"]
        tokens = self.vae.interpolate(self.ends["a"], self.ends["b"], steps)  # argmax: ends reproduce A, B
        return [phrases.tokens_phrase(t, self["channel"] - 1, self.name, kind="interpolation", index=i,
                                      steps=steps) for i, t in enumerate(tokens)]

    def action_phrase_a(self, path: str) -> None:
        self._set_end("a", path)

    def action_phrase_b(self, path: str) -> None:
        self._set_end("b", path)

    def _set_end(self, which: str, path: str) -> None:
        if not path:
            raise InputError(f"phrase_{which} needs the path of a MIDI file")
        self.ends[which] = phrases.first_window(Path(path).expanduser())
        self.context.report(f"phrase {which.upper()} set from {Path(path).name}")

    def action_capture_a(self) -> None:
        self._capture("a")

    def action_capture_b(self) -> None:
        self._capture("b")

    def _capture(self, which: str) -> None:
        bpb = self.context.beats_per_bar
        self.context.need_midi_input(f"capture_{which} takes the last 2 bars played into the MIDI input")
        played = phrases.input_notes(self.context.recent_input(2.0 * bpb), bpb)
        if not played:
            raise InputError(f"capture_{which}: nothing was played into the MIDI input in the last 2 bars")
        line = melody_notes(played, source=f"capture_{which} (the last 2 bars played)")
        found = phrases.melody_windows(line)
        if not len(found):
            raise InputError(f"capture_{which}: the last 2 bars played hold {len(line)} note(s); "
                             f"a phrase needs at least {phrases.MIN_NOTES}")
        self.ends[which] = found[0]
        self.context.report(f"phrase {which.upper()} captured ({len(line)} notes)")

    def action_learn(self, bars: int) -> list[Phrase]:
        bars = bars or self["bars"]
        bpb = self.context.beats_per_bar
        self.context.need_midi_input("learn personalises on what you played into the MIDI input")
        played = phrases.input_notes(self.context.recent_input(float(bars * bpb)), bpb)
        source = f"the last {bars} bars played into the MIDI input"
        if not played:
            raise InputError(f"too few bars to learn from in {source}: nothing was played "
                             f"(MidiMe needs at least 3 bars of a melody)")
        return self._learn(played, source, bars)

    def action_learn_notes(self, notes: str) -> list[Phrase]:
        played = phrases.json_notes(notes)
        bpb = self.context.beats_per_bar
        bars = max(n.start + n.duration for n in played) / bpb if played else 0
        return self._learn(played, f"the {len(played)} notes sent", round(bars, 1))

    def _learn(self, played: list, source: str, bars: float) -> list[Phrase]:
        """MidiMe on ``played`` (notes in beats from a bar line): samples of the personalised model."""
        line = melody_notes(played, source=source)
        windows = phrases.need_enough(phrases.melody_windows(line), source, bars=bars, notes=len(line))
        self.context.progress(LEARN_TASK, 0.0)
        mu, _ = self.vae.encode(windows)

        def progress(epoch: int, epochs: int, loss: float) -> None:
            if epoch == epochs or epoch % max(1, epochs // 50) == 0:
                self.context.progress(LEARN_TASK, epoch / epochs)

        seed = self["seed"] if self["seed"] >= 0 else int(self._rng.integers(2 ** 31))
        self.personal = MidiMe.learn(mu, self.vae.name, self.vae.fingerprint, seed=seed, progress=progress)
        self.personal_name = "learned live"
        self.context.report(f"learned {len(windows)} two-bar windows in "
                            f"{self.personal.info['seconds']:.2f} s")
        return self._samples(self["variations"], self._action_rng())

    def action_personal(self, path: str) -> list[Phrase]:
        if not path:
            self.personal, self.personal_name = None, ""
            self.context.report("personal model off (plain MusicVAE)")
        else:
            model = MidiMe.load(Path(path).expanduser())
            model.check_base(self.vae.name, self.vae.fingerprint, source=Path(path).name)
            self.personal, self.personal_name = model, Path(path).stem
            self.context.report(f"personal model {Path(path).name}")
        return self._samples(self["variations"], self._action_rng())

"""The live "midime" generator: MusicVAE phrases, interpolations and a personal MidiMe, bar by bar.

``next_phrase()`` returns ``variations`` new melodies of ``phrases`` 2-bar phrases
at once (from the personal MidiMe prior when one is set; in ``key``/``scale`` and
centred on ``register`` when set); the host plays them in order and asks
again when they run out (or drops them when a parameter changes). Actions
return the phrases they make, which the host plays from the next bar in place
of what was queued.

Seeds: every batch of phrases is made from one seed, carried in each phrase's
``meta["seed"]`` (the host shows the playing phrase's seed in ``/cmt/status``
and writes ``seed N`` into the recording at the phrase's start). With ``seed``
-1 a fresh seed is drawn per batch; with ``seed`` N the batches use N, N+1,
N+2... and an action uses N. Setting ``seed`` to a seed that was shown makes
that batch again (same other parameters), then the ones after it.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bridge.api import Action, Generator, InputError, Param, Phrase, melody_notes

from . import phrases, sampling, styles
from .midime import MidiMe
from .morph import morph
from .params import PARAMS
from .vae import EXPECT, MODEL_NAME, MusicVAE

log = logging.getLogger(__name__)

LEARN_TASK = "learn"  # the host prefixes the generator: /cmt/progress midime/learn <fraction>
SEEDS = 2 ** 31         # seeds are 0..2**31-1: what the ``seed`` parameter accepts


def fresh_seed() -> int:
    """A new seed from the OS's entropy (as ``midime sample`` draws one), in the ``seed`` parameter's range."""
    return int(np.random.SeedSequence().entropy % SEEDS)


class MidiMeGenerator(Generator):
    name = "midime"
    description = "MusicVAE 2-bar melodies: sample, interpolate, and personalise on your own playing (MidiMe)"
    models = (MODEL_NAME,)
    model_expect = {MODEL_NAME: EXPECT}  # the host checks the graphs' semantic inputs/outputs on load
    vae_class = MusicVAE                 # the runtime of models[0] (generator16.py: the 16-bar model)
    params = PARAMS
    actions = (
        Action("sample", (Param("n", int, 0, 0, 16, unit="melodies", doc="0 = the variations parameter"),),
               doc="play n new samples (melodies of `phrases` 2-bar phrases, in key/scale and register)"),
        Action("interpolate", (Param("steps", int, 0, 0, 16, unit="phrases", doc="0 = the steps parameter"),),
               doc="morph from phrase A to phrase B in `steps` distinct phrases (A first, B last)"),
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
        Action("styles", doc="send the menu of personal models: /cmt/midime/style_list <json>"),
        Action("keep", (Param("name", str, "", doc="a name for the menu"),),
               doc="keep the model learned live in the menu of personal models (and select it)"),
    )
    messages = (
        Action("style_list", (Param("json", str, "[]", doc="[{name, windows, sources}, ...]"),),
               doc="the menu of personal MidiMe models (reply to /cmt/midime/styles)"),
    )

    def __init__(self, models: dict | None = None, context=None) -> None:
        super().__init__(models, context)
        self._vae: MusicVAE | None = None
        self.ends: dict[str, np.ndarray] = {}
        self.personal: MidiMe | None = None
        self.personal_name = ""
        self.personal_ref = ""   # the style value the playing personal model came from
        self._next_seed = max(0, int(self["seed"]))    # the next batch's seed while ``seed`` is fixed
        if self.bundles:  # check the model's vocabulary now, so a mismatch is a start-up error
            self._vae = self.vae

    # -- model and randomness -------------------------------------------------------
    @property
    def vae(self) -> MusicVAE:
        if self._vae is None:
            self._vae = self.vae_class(self.bundle(self.models[0]))
        return self._vae

    def on_param(self, name: str, value: Any) -> None:
        if name == "seed":
            self._next_seed = max(0, int(value))
        elif name == "style" and value != self.personal_ref:
            try:
                self._use_style(value)
            except Exception:
                self.values["style"] = self.personal_ref   # the model that still plays
                raise

    def _use_style(self, ref: str) -> None:
        """Sample from the personal model ``ref`` (a menu name or a .midime path; "" = plain MusicVAE)."""
        if not ref:
            self.personal, self.personal_name = None, ""
            self.context.report("personal model off (plain MusicVAE)")
        else:
            path = styles.resolve(ref)
            model = MidiMe.load(path)
            model.check_base(self.vae.name, self.vae.fingerprint, source=path.name)
            self.personal, self.personal_name = model, path.stem
            self.context.report(f"personal model {path.name}")
        self.personal_ref = self.values["style"] = ref

    def _action_seed(self) -> int:
        """A fixed seed makes every action repeat exactly; -1 draws a fresh seed (shown, so it can be set)."""
        return self["seed"] if self["seed"] >= 0 else fresh_seed()

    def _batch_seed(self) -> int:
        """The seed of the next batch ``next_phrase`` makes: N, N+1, ... for a fixed ``seed``; -1: a fresh one."""
        if self["seed"] < 0:
            return fresh_seed()
        seed, self._next_seed = self._next_seed, (self._next_seed + 1) % SEEDS
        return seed

    def prepare(self) -> None:
        self.vae.decode(np.zeros((1, self.vae.z_dim), np.float32))

    # -- playing --------------------------------------------------------------------
    def _samples(self, n: int, seed: int) -> list[Phrase]:
        """``n`` melodies of ``phrases`` phrases each from ``seed``, in the key/scale and register set (keys.py)."""
        temperature, count = self["temperature"], self["phrases"]
        tokens = sampling.melodies(self.vae, n, count, temperature, np.random.default_rng(seed), self.personal,
                                   form=self.form())
        meta = {"kind": "sample", "seed": seed, "temperature": temperature, "personal": self.personal_name,
                "key": self["key"], "scale": self["scale"], "register": self["register"]}
        out = []
        for m, rows in enumerate(tokens):
            shaped = sampling.melody_notes(rows, self["key"], self["scale"], self["register"], self["channel"] - 1)
            for k, (t, notes) in enumerate(zip(rows, shaped)):
                out.append(phrases.notes_phrase(notes, sampling.phrase_beats(t), self.name, tokens=t,
                                                index=m * count + k, melody=m, **meta))
        return out

    def form(self) -> str | None:
        """Which bars repeat which in a sample (the 16-bar generator's ``form``); None: the model's own."""
        return None

    def next_phrase(self) -> list[Phrase]:
        return self._samples(self["variations"], self._batch_seed())

    def action_sample(self, n: int) -> list[Phrase]:
        return self._samples(n or self["variations"], self._action_seed())

    def action_interpolate(self, steps: int) -> list[Phrase]:
        missing = [k for k in ("a", "b") if k not in self.ends]
        if missing:
            raise InputError(f"interpolate needs phrases A and B (missing {' and '.join(missing).upper()}): set "
                             f"them with phrase_a/phrase_b <file.mid> or capture_a/capture_b")
        steps, seed = steps or self["steps"], self._action_seed()
        made = morph(self.vae, self.ends["a"], self.ends["b"], steps, np.random.default_rng(seed))  # A first, B last
        for remark in made.remarks:
            self.context.report(remark)
        return [phrases.tokens_phrase(t, self["channel"] - 1, self.name, kind="interpolation", index=i,
                                      steps=steps, source=src, seed=seed)
                for i, (t, src) in enumerate(zip(made.tokens, made.sources))]

    def action_phrase_a(self, path: str) -> None:
        self._set_end("a", path)

    def action_phrase_b(self, path: str) -> None:
        self._set_end("b", path)

    def _set_end(self, which: str, path: str) -> None:
        if not path:
            raise InputError(f"phrase_{which} needs the path of a MIDI file")
        self.ends[which] = phrases.first_window(Path(path).expanduser(), self.vae.steps)
        self.context.report(f"phrase {which.upper()} set from {Path(path).name}")

    def action_capture_a(self) -> None:
        self._capture("a")

    def action_capture_b(self) -> None:
        self._capture("b")

    def _capture(self, which: str) -> None:
        bpb, bars = self.context.beats_per_bar, self.vae.bars
        self.context.need_midi_input(f"capture_{which} takes the last {bars} bars played into the MIDI input")
        played = phrases.input_notes(self.context.recent_input(float(bars * bpb)), bpb)
        if not played:
            raise InputError(f"capture_{which}: nothing was played into the MIDI input in the last {bars} bars")
        line = melody_notes(played, source=f"capture_{which} (the last {bars} bars played)")
        found = phrases.melody_windows(line, steps=self.vae.steps)
        if not len(found):
            raise InputError(f"capture_{which}: the last {bars} bars played hold {len(line)} note(s); "
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
        one = self.vae.bars > 2          # a 16-bar model learns from one section; 2 bars need two windows
        windows = phrases.need_enough(phrases.melody_windows(line, steps=self.vae.steps), source, bars=bars,
                                      notes=len(line), least=1 if one else phrases.MIN_WINDOWS)
        self.context.progress(LEARN_TASK, 0.0)
        seed = self._action_seed()
        mu = self.vae.learning_latents(windows, np.random.default_rng(seed))

        def progress(epoch: int, epochs: int, loss: float) -> None:
            if epoch == epochs or epoch % max(1, epochs // 50) == 0:
                self.context.progress(LEARN_TASK, epoch / epochs)

        self.personal = MidiMe.learn(mu, self.vae.name, self.vae.fingerprint, seed=seed, progress=progress)
        self.personal_name = "learned live"
        self.personal_ref, self.values["style"] = "(learned live)", ""   # keep NAME puts it in the menu
        self.context.report(f"learned {len(windows)} {phrases.window_word(self.vae.bars)} windows in "
                            f"{self.personal.info['seconds']:.2f} s")
        return self._samples(self["variations"], seed)

    def action_personal(self, path: str) -> list[Phrase]:
        self._use_style(path)
        return self._samples(self["variations"], self._action_seed())

    def action_styles(self) -> None:
        menu = []
        for name, path in styles.menu().items():
            try:
                info = MidiMe.load(path).info
            except Exception as e:   # a broken file stays in the menu, marked
                info = {"error": str(e)}
            menu.append({"name": name, "windows": info.get("windows"), "sources": info.get("sources", []),
                         **({"error": info["error"]} if "error" in info else {})})
        self.context.send("style_list", json.dumps(menu, separators=(",", ":")))

    def action_keep(self, name: str) -> None:
        if self.personal is None:
            raise InputError("keep: no personal model yet: learn one first (/cmt/midime/learn)")
        path = styles.path_for(name.strip())
        if path.exists():
            raise InputError(f"keep: the menu already has {name!r} ({path}); choose another name")
        self.personal.save(path)
        self.personal_ref = self.values["style"] = name.strip()
        self.context.report(f"kept the personal model as {name.strip()!r} ({path})")

"""The live "midime16" generator: MidiMe on the 16-bar MusicVAE (hierarchical decoder).

Everything the 2-bar ``midime`` generator does (sample, interpolate, learn
from what was played or from a clip, personal models), with 16-bar sections
from ``musicvae-mel16bar``: a phrase is 16 bars (64 beats in 4/4), decoded in
1 + 16 onnxruntime calls. Learning takes the last ``bars`` bars played (one
16-bar window per bar after the 16th) or a clip's notes.
"""
from __future__ import annotations

from bridge.api import Action, Param

from . import form
from .generator import MidiMeGenerator
from .params import PARAMS
from .vae16 import EXPECT, MODEL_NAME, MusicVAE16


_CHANGED = {
    "variations": Param("variations", int, 1, 1, 8, unit="sections", doc="16-bar sections per sample action "
                                                                         "and queue refill"),
    "steps": Param("steps", int, 3, 1, 8, unit="sections", doc="sections of an interpolation, end points included"),
    "bars": Param("bars", int, 16, 16, 64, unit="bars", doc="bars of recent MIDI input that learn uses"),
    "channel": Param("channel", int, 8, 1, 16, doc="MIDI channel of the sections (8: clear of midime's 1, "
                                                   "transcription's 2 and CMT's 3-7 and 10)"),
}
FORM = Param("form", str, form.CORPUS, doc="which bars of a section repeat which: corpus (a form of a training "
             "tune, drawn per section), free (no form: the plain prior) or 16 letters, one per bar, same letter = "
             "same bar (e.g. ABCDABCEABCDABCF)", check=form.check)


class MidiMe16Generator(MidiMeGenerator):
    name = "midime16"
    description = "MusicVAE 16-bar sections (hierarchical decoder): sample, interpolate, personalise (MidiMe)"
    models = (MODEL_NAME,)
    model_expect = {MODEL_NAME: EXPECT}
    vae_class = MusicVAE16
    params = tuple(_CHANGED.get(p.name, p) for p in PARAMS) + (FORM,)
    actions = tuple({a.name: a for a in (
        Action("sample", (Param("n", int, 0, 0, 8, unit="sections", doc="0 = the variations parameter"),),
               doc="play n new 16-bar sections"),
        Action("interpolate", (Param("steps", int, 0, 0, 8, unit="sections", doc="0 = the steps parameter"),),
               doc="morph from section A to section B in `steps` sections"),
        Action("learn", (Param("bars", int, 0, 0, 64, unit="bars", doc="0 = the bars parameter"),),
               doc="personalise (MidiMe) on the last bars played into the MIDI input (16 or more)"),
        Action("learn_notes", (Param("notes", str, "[]", doc="JSON: [[pitch, start_beats, duration_beats, "
                                                             "velocity], ...] (a clip's notes, 16 bars or more)"),),
               doc="personalise (MidiMe) on notes sent as JSON (the Live device's Learn from clip)"),
        Action("phrase_a", (Param("path", str, "", doc="a MIDI file (its first 16 bars of melody)"),),
               doc="set interpolation start from a file"),
        Action("phrase_b", (Param("path", str, "", doc="a MIDI file (its first 16 bars of melody)"),),
               doc="set interpolation end from a file"),
        Action("capture_a", doc="set interpolation start from the last 16 bars played"),
        Action("capture_b", doc="set interpolation end from the last 16 bars played"),
        Action("personal", (Param("path", str, "", doc="a .midime file learned on the 16-bar model "
                                                      "(\"\" = back to plain MusicVAE)"),),
               doc="sample from a personal MidiMe model"),
    )}.get(a.name, a) for a in MidiMeGenerator.actions)   # the 2-bar generator's actions, worded for 16 bars

    def form(self) -> str:
        return self["form"]

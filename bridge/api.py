"""The plugin API: every name a cmt-bridge plugin may rely on, and the plugin author's guide.

A plugin imports from ``bridge.api`` only (plus numpy, onnxruntime and its own
modules); everything else in ``bridge`` is the host's own business and may
change. ``lint-imports`` (contracts in ``pyproject.toml``) holds the built-in
plugins to this rule.

Writing a plugin
================

A plugin is any module with functions decorated by :data:`hookimpl` (the hooks
are listed, typed and documented in :mod:`bridge.hookspecs`). Generators are
classes: subclass :class:`Generator`, give it a ``name``, its :class:`Param` s
and :class:`Action` s, and return the class from
``cmtbridge_register_generators``::

    # my_drone.py -- a whole plugin
    from bridge.api import Generator, Note, Param, Phrase, hookimpl

    class Drone(Generator):
        name = "drone"
        params = (Param("pitch", int, 48, 0, 127, doc="MIDI pitch"),)

        def next_phrase(self):
            return Phrase.of([Note(self["pitch"], 90, 0.0, 4.0)], 4.0, self.name)

    @hookimpl
    def cmtbridge_register_generators():
        return [Drone]

Try it without packaging: ``CMT_BRIDGE_PLUGINS=my_drone.py cmt-bridge plugins``
then ``CMT_BRIDGE_PLUGINS=my_drone.py cmt-bridge run --play drone``.

Ship it: declare an entry point in your package's ``pyproject.toml`` (the
built-in plugins are registered exactly this way, in cmt-bridge's own)::

    [project.entry-points."cmt_bridge.plugins"]
    drone = "my_drone"

What the host does with your class
----------------------------------
- At start-up it validates the class (``bridge.generator.validate``): a bad
  name, a name another plugin took, a parameter declared twice, a missing
  ``next_phrase``, an action without its ``action_<name>`` method or a
  missing/mismatched model folder is reported naming your plugin, and the
  other plugins still load.
- ``models = ("folder",)`` names folders under ``onnx_models/`` (or
  ``$CMT_BRIDGE_MODELS``); each is loaded as a :class:`ModelBundle`;
  ``self.bundle("folder")`` returns it (ModelError when it is not loaded).
  An optional ``model_expect = {"folder": {"graph": ({inputs}, {outputs})}}``
  checks the manifest's semantic names at load time.
- One worker thread per generator calls ``prepare()`` once (warm up), then
  ``next_phrase()`` about a bar ahead of the clock; phrases start on bar lines.
  Notes are in beats; only the transport turns beats into seconds.
  ``next_phrase()`` may return several phrases at once (a list): the host
  plays them in order and drops the rest when a parameter changes or an
  action returns phrases, so a generator keeps no queue of its own.
- Parameters are set by OSC (``/cmt/<generator>/<param> <value>``), MIDI CC
  and the config file, checked once where they enter against your ``Param``
  (range, choices and its ``check``); the new value reaches you through
  ``on_param`` on your worker thread.
- ``/cmt/<generator>/<action> args...`` is bound against the ``Action``'s
  arguments where it enters (OSC, ``--do``), then the base class calls your
  method ``action_<name>(*args)`` on your worker thread with the values typed,
  checked and defaulted. Phrases it returns replace what is queued from the
  next bar (and start the generator if it was stopped).
- An exception in your code is logged and answered with ``/cmt/error``; your
  generator stops (its sounding notes still end), the others keep playing.
- ``self.context`` offers tempo, the MIDI input's recent notes,
  ``progress(task, fraction)`` (sent as ``/cmt/progress``) and ``report(text)``.
- ``self.context.now()`` is the clock's beat and ``self.context.played(from_beat,
  to_beat)`` lists what the host plays (every generator's notes, absolute beats;
  :class:`bridge.played.PlayedNote`), for a generator that listens to the host.
- ``messages = (Action("caption", (Param("text", str, ""),), doc=...),)``
  declares what you send yourself: ``self.context.send("caption", text)``
  goes out as ``/cmt/<generator>/caption <text>`` (int, float, bool or str
  arguments, any number). Declared messages are in the OSC schema's out table,
  the docs and the patches; sending an undeclared one raises PluginError.
- ``voices = {channel: ("strings", 48)}`` (channels 0..15, General MIDI
  programs 0..127 or None) names the instruments you play on fixed channels:
  the session recording gives each channel its own track, named after you and
  the instrument ("cmt strings ch 2"), starting with that program.

Command-line tools
------------------
Plugins may add ``cmt-bridge`` sub-commands with ``cmtbridge_add_commands``.
:func:`add_param_options` adds options built from your generator's parameter
table and :func:`param_values` checks them (one-line errors naming the flag);
:func:`run_commands` runs your commands alone (``python -m yourplugin``);
:func:`add_run_arguments` and :func:`run_host` start the host preset (as
``cmt-bridge cmt live`` does). :func:`read_notes`, :func:`read_tracks`,
:func:`read_tempo`, :func:`melody_notes`, :func:`write_notes` and :func:`render_pianoroll` read and
write MIDI files and draw piano rolls; :class:`Progress` is the progress bar for long work;
:func:`pil_font` a PIL font for pictures. :func:`load_sounddevice`, :func:`find_device`,
:func:`input_devices`, :func:`open_input`, :func:`close_input` and :class:`StreamResampler`
open audio input devices and resample their blocks (for plugins that listen); a device written
``jack`` or ``jack:<port>`` is a JACK audio input port instead (:func:`jack_source`, :class:`JackInput`,
through the JACK client library); :func:`read_audio`,
:func:`decode_audio` and :func:`resample_audio` read audio files of any common format (WAV, FLAC,
OGG, MP3, and what FFmpeg decodes) with one-line errors. :func:`input_file`,
:func:`output_path` and :func:`output_folder` check paths a user gives and turn
any refusal of the OS (too long, a folder, no permission) into a one-line InputError;
``output_path(..., force=False, inputs=[...])`` refuses to overwrite a file without ``--force``
and never writes over an input; :func:`numbered` and :func:`with_time` name outputs made again
and again; :func:`claim_set` makes room for a numbered set of files (``sample_01.mid``...). :func:`merge_unisons` merges duplicate notes as a MIDI file does (write and
piano roll both use it).
:func:`user_folder` is the user's cmt-bridge folder (``$XDG_CONFIG_HOME/cmt-bridge``, see
:mod:`bridge.presets`): keep a plugin's own files there, in ``user_folder("<plugin>")``.

``CMT_BRIDGE_DISABLE=name,...`` disables plugins or generators by name.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .cli import add_run_arguments, run_commands, run_host
from .errors import BridgeError, ConfigError, InputError, ModelError, PluginError
from .events import InputNote, Note, Phrase
from .generator import Action, Generator, GeneratorContext, Param
from .hookspecs import hookimpl
from .midifile import melody_notes, merge_unisons, read_notes, read_tempo, read_tracks, write_notes
from .options import add_param_options, param_values
from .paths import claim_set, input_file, numbered, output_folder, output_path, same_file, with_time
from .pianoroll import font as pil_font
from .pianoroll import render as render_pianoroll
from .presets import user_folder
from .progress import Progress

if TYPE_CHECKING:
    from .audio_in import (JackInput, StreamResampler, close_input, find_device, input_devices, jack_source,
                           load_sounddevice, open_input)
    from .audiofile import decode as decode_audio
    from .audiofile import read_audio
    from .audiofile import resample as resample_audio
    from .runtime import ModelBundle, default_models_dir, model_folder

# bridge.runtime and bridge.audio_in import numpy: loaded on first use, so a plugin's hooks and CLI options stay light
_RUNTIME = ("ModelBundle", "default_models_dir", "model_folder")
_AUDIO_IN = ("StreamResampler", "find_device", "input_devices", "load_sounddevice", "open_input", "close_input",
             "JackInput", "jack_source")
_AUDIO_FILE = {"read_audio": "read_audio", "decode_audio": "decode", "resample_audio": "resample"}


def __getattr__(name: str):
    if name in _RUNTIME:
        from . import runtime

        return getattr(runtime, name)
    if name in _AUDIO_IN:
        from . import audio_in

        return getattr(audio_in, name)
    if name in _AUDIO_FILE:
        from . import audiofile

        return getattr(audiofile, _AUDIO_FILE[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "hookimpl",
    "Generator", "GeneratorContext", "Param", "Action", "Phrase", "Note", "InputNote",
    "ModelBundle", "default_models_dir", "model_folder",
    "BridgeError", "ConfigError", "InputError", "ModelError", "PluginError",
    "add_param_options", "param_values", "add_run_arguments", "run_commands", "run_host",
    "read_notes", "read_tempo", "read_tracks", "melody_notes", "write_notes", "merge_unisons", "render_pianoroll",
    "Progress", "pil_font", "input_file", "output_path", "output_folder", "user_folder", "numbered", "same_file",
    "with_time", "claim_set",
    "load_sounddevice", "find_device", "input_devices", "StreamResampler", "open_input", "close_input",
    "JackInput", "jack_source",
    "read_audio", "decode_audio", "resample_audio",
]

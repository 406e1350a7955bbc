"""cmt-bridge: play ONNX music models live, MIDI into a DAW and OSC into Max/Pd.

Writing a plugin (the plugin author's guide)
============================================

A plugin is any module with functions decorated by :data:`bridge.hookimpl`
(the hooks are listed, typed and documented in :mod:`bridge.hookspecs`).
Generators are classes: subclass :class:`bridge.generator.Generator`, give it
a ``name``, its :class:`~bridge.generator.Param` s and
:class:`~bridge.generator.Action` s, and return the class from
``cmtbridge_register_generators``::

    # my_drone.py -- a whole plugin
    from bridge import hookimpl
    from bridge.events import Note, Phrase
    from bridge.generator import Generator, Param

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

Ship it: declare an entry point in your package's ``pyproject.toml``::

    [project.entry-points."cmt_bridge.plugins"]
    drone = "my_drone"

What the host does with your class
----------------------------------
- At start-up it validates the class (:func:`bridge.generator.validate`): a
  bad name, a name another plugin took, a parameter declared twice, a missing
  ``next_phrase`` or a missing/mismatched model folder is reported naming your
  plugin, and the other plugins still load.
- ``models = ("folder",)`` names folders under ``onnx_models/`` (or
  ``$CMT_BRIDGE_MODELS``); each is loaded as a
  :class:`bridge.runtime.ModelBundle` and handed to you in ``self.bundles``.
  An optional ``model_expect = {"folder": {"graph": ({inputs}, {outputs})}}``
  checks the manifest's semantic names at load time.
- One worker thread per generator calls ``prepare()`` once (warm up), then
  ``next_phrase()`` about a bar ahead of the clock; phrases start on bar lines.
  Notes are in beats; only the transport turns beats into seconds.
- Parameters are set by OSC (``/cmt/<generator>/<param> <value>``), MIDI CC
  and the config file, always validated against your ``Param`` first; the
  change reaches you through ``on_param`` on your worker thread.
- ``/cmt/<generator>/<action> args...`` calls ``perform(action, args)`` on
  your worker thread; phrases it returns replace what is queued from the next
  bar (and start the generator if it was stopped).
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

Plugins may also add CLI sub-commands with ``cmtbridge_add_commands``.
``CMT_BRIDGE_DISABLE=name,...`` disables plugins or generators by name.
"""
from __future__ import annotations

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"

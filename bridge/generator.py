"""The generator contract: what a plugin registers and the host plays.

A generator is a class with a ``name``, described :class:`Param` s and
:class:`Action` s (each with its method ``action_<name>``), the names of the
model folders it needs, and a ``next_phrase()`` that returns the next
:class:`~bridge.events.Phrase` (in beats), or several. The host validates the
class at start-up (see :func:`validate`), builds one instance with its loaded
models and a :class:`GeneratorContext`, and calls ``next_phrase()`` on a worker
thread ahead of the clock: never on the output thread, so inference can take
its time within the lookahead.

A generator says what it is; the host does the rest: parameter values and
action arguments are checked once, where they enter (OSC, MIDI CC, config,
``--do``), against this table; the host buffers the phrases a generator makes
and drops them when something changes; :meth:`Generator.bundle` finds a model.

A seven-line generator::

    class Drone(Generator):
        name = "drone"
        params = (Param("pitch", int, 48, 0, 127, doc="MIDI pitch"),)

        def next_phrase(self):
            return Phrase.of([Note(self["pitch"], 90, 0.0, 4.0)], 4.0, self.name)
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from .errors import ConfigError, InputError, ModelError, PluginError
from .events import InputNote, Phrase

if TYPE_CHECKING:
    from .runtime import ModelBundle

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_OSC_TYPES = {int: "i", float: "f", bool: "i", str: "s"}
# Addresses the host owns: a generator may not be called like them.
#: what needs MIDI input says when the host has none (``{what}``: what the player tried)
NO_MIDI_INPUT = ("{what}, but this host has no MIDI input: start it with --virtual-in (then connect your "
                 "keyboard or DAW to the port 'cmt-bridge-in') or --midi-in PORT (cmt-bridge ports lists them)")
RESERVED_NAMES = frozenset({"play", "stop", "panic", "tempo", "status", "error", "progress",
                            "note", "beat", "learn", "cc", "reload", "ping", "preset", "presets"})


@dataclass(frozen=True)
class Param:
    """A generator parameter: type, default, inclusive range, unit, one-line doc.

    ``check`` (optional) is one more rule on the coerced value, raising
    ConfigError with a one-line reason (e.g. "bars must be even").
    """

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    unit: str = ""
    doc: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise PluginError(f"parameter name {self.name!r} must match {NAME_RE.pattern}")
        if self.type not in _OSC_TYPES:
            raise PluginError(f"parameter {self.name!r}: type must be int, float, bool or str")
        self.coerce(self.default)

    @property
    def osc_type(self) -> str:
        return _OSC_TYPES[self.type]

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type, or raise ConfigError saying why not."""
        t = self.type
        try:
            if t is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in ("0", "1", "true", "false", "on", "off"):
                        raise ValueError
                    value = low in ("1", "true", "on")
                elif isinstance(value, (int, float)) and value in (0, 1):
                    value = bool(value)
                elif not isinstance(value, bool):
                    raise ValueError
            elif t is int:
                if isinstance(value, bool):
                    raise ValueError
                if isinstance(value, float):
                    if not value.is_integer():
                        raise ValueError
                value = int(value)
            elif t is float:
                if isinstance(value, bool):
                    raise ValueError
                value = float(value)
                if value != value:  # NaN
                    raise ValueError
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.name} must be {t.__name__}, got {value!r}") from None
        if t in (int, float):
            if self.min is not None and value < self.min or self.max is not None and value > self.max:
                raise ConfigError(f"{self.name} must be in range {self.min}..{self.max}, got {value}")
        if self.choices and value not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        if self.check is not None:
            self.check(value)
        return value

    def describe(self) -> dict:
        d = {"name": self.name, "type": self.type.__name__, "osc_type": self.osc_type,
             "default": self.default, "min": self.min, "max": self.max, "unit": self.unit, "doc": self.doc}
        if self.choices:
            d["choices"] = list(self.choices)
        return d


@dataclass(frozen=True)
class Action:
    """Something a user triggers (``/cmt/<generator>/<action> args...``)."""

    name: str
    args: tuple[Param, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise PluginError(f"action name {self.name!r} must match {NAME_RE.pattern}")

    def bind(self, values: Sequence[Any]) -> list[Any]:
        """Validate positional ``values``; missing trailing args take their defaults."""
        if len(values) > len(self.args):
            raise ConfigError(f"{self.name} takes at most {len(self.args)} argument(s), got {len(values)}")
        out = [p.coerce(v) for p, v in zip(self.args, values)]
        out += [p.default for p in self.args[len(values):]]
        return out

    def describe(self) -> dict:
        return {"name": self.name, "doc": self.doc, "args": [a.describe() for a in self.args]}


@dataclass
class GeneratorContext:
    """What the host offers a generator: tempo, the MIDI input history, progress and status reports.

    ``now()`` is the clock's beat; ``played(from_beat, to_beat)`` lists what the host plays
    (every generator's notes, :class:`bridge.played.PlayedNote`, absolute beats) sounding in
    that span, for generators that listen to the host. ``midi_input()`` names the MIDI input port
    (None: the host has none; ``need_midi_input(what)`` raises InputError saying how to start it
    with one). ``send(message, *args)`` sends ``/cmt/<generator>/<message> args...`` to the
    OSC reply address; ``message`` must be one of the generator's declared
    :attr:`Generator.messages` (so the schema, docs and patches know it).
    Arguments: int, float, bool or str.
    """

    beats_per_bar: int = 4
    tempo: Callable[[], float] = lambda: 120.0
    recent_input: Callable[[float], list[InputNote]] = lambda beats: []
    now: Callable[[], float] = lambda: 0.0
    played: Callable[[float, float], list] = lambda from_beat, to_beat: []
    progress: Callable[[str, float], None] = lambda task, fraction: None
    report: Callable[[str], None] = lambda text: None
    send: Callable[..., None] = lambda message, *args: None
    midi_input: Callable[[], str | None] = lambda: None

    def need_midi_input(self, what: str) -> str:
        """The MIDI input port's name; InputError saying how to start the host with one when it has none
        (``what``: what the player tried, e.g. "learn plays back what you played")."""
        port = self.midi_input()
        if port is None:
            raise InputError(NO_MIDI_INPUT.format(what=what))
        return port


class Generator:
    """Base class of every generator; subclass it and register the subclass from a plugin."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    actions: ClassVar[tuple[Action, ...]] = ()
    #: folders under onnx_models/ this generator needs, loaded by the host as ModelBundle s
    models: ClassVar[tuple[str, ...]] = ()
    #: fixed channels (0..15) -> (instrument name, General MIDI program 0..127 or None), for the
    #: recording: each channel's track is named after its instrument and starts with its program
    voices: ClassVar[dict[int, tuple[str, int | None]]] = {}
    #: what the generator sends (``/cmt/<name>/<message> args...`` through ``context.send``),
    #: described like actions so the OSC schema, the docs and the patches list them
    messages: ClassVar[tuple[Action, ...]] = ()

    def __init__(self, models: dict | None = None, context: GeneratorContext | None = None) -> None:
        self.bundles = dict(models or {})
        self.context = context or GeneratorContext()
        self.values: dict[str, Any] = {p.name: p.default for p in self.params}

    # -- parameters -------------------------------------------------------
    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ConfigError(f"{self.name} has no parameter {name!r}")

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def set(self, name: str, value: Any) -> Any:
        """Validate and set a parameter; returns the stored value."""
        return self.apply(name, self.param(name).coerce(value))

    def apply(self, name: str, value: Any) -> Any:
        """Store a value already checked by its Param (the host checks where values enter) and
        tell :meth:`on_param`."""
        self.values[name] = value
        self.on_param(name, value)
        return value

    def on_param(self, name: str, value: Any) -> None:
        """Called after a parameter changed (override to react)."""

    # -- playing ----------------------------------------------------------
    def prepare(self) -> None:
        """Warm up (first inference) before the first phrase is due; called once on a worker thread."""

    def next_phrase(self) -> Phrase | Sequence[Phrase]:
        """The next phrase to play, starting on a bar line right after the previous one.

        A list of phrases is played in order; the host drops what is left of it when a
        parameter changes or an action returns phrases (it owns the buffering).
        """
        raise NotImplementedError

    # -- actions ------------------------------------------------------------
    @classmethod
    def action(cls, name: str) -> Action:
        for a in cls.actions:
            if a.name == name:
                return a
        raise ConfigError(f"{cls.name} has no action {name!r}")

    def perform(self, action: str, args: Sequence[Any]) -> list[Phrase] | None:
        """Bind ``args`` against the action's Params (ConfigError), then run it: for direct callers
        (tests, tools). The host binds where a command enters and calls :meth:`run_action`."""
        return self.run_action(action, self.action(action).bind(args))

    def run_action(self, action: str, values: Sequence[Any]) -> list[Phrase] | None:
        """Call ``action_<action>(*values)`` with values already bound by :meth:`Action.bind`.

        Returned phrases replace what is queued and play from the next bar.
        """
        return getattr(self, f"action_{self.action(action).name}")(*values)

    # -- models ---------------------------------------------------------------
    def bundle(self, name: str | None = None) -> "ModelBundle":
        """The loaded model folder ``name`` (default: the first of ``models``); ModelError when not loaded.

        A generator built with one bundle under another key (tests) gets that one.
        """
        name = name or (self.models[0] if self.models else "")
        found = self.bundles.get(name) or next(iter(self.bundles.values()), None)
        if found is None:
            raise ModelError(f"{self.name} needs the model {name} (not loaded)")
        return found

    # -- what the player sees ------------------------------------------------------
    def voice_map(self) -> dict[int, tuple[str, int | None]]:
        """The instruments playing on fixed channels now (channel 0..15 -> (name, GM program or None)).

        Default: the class's :attr:`voices`; a generator whose channels are parameters overrides it.
        """
        return dict(type(self).voices)

    def channels(self) -> dict[str, int]:
        """What plays on which MIDI channel now: ``{part: channel 1..16}``.

        Default: the generator's ``channel`` parameter (under its own name) and the channels of
        :meth:`voice_map`. The host shows them (ready line, ``/cmt/status``) and warns when two
        playing generators share one (a note-off of one would cut the other's note).
        """
        out = {voice: channel + 1 for channel, (voice, _) in sorted(self.voice_map().items())}
        if "channel" in self.values:
            out[self.name] = int(self.values["channel"])
        return out

    def state(self) -> dict[str, Any]:
        """What the player needs to make this music again (e.g. ``{"seed": 1234}``), for ``/cmt/status``."""
        return {}

    def close(self) -> None:
        """Release resources (the host calls it on unload and hot-swap)."""

    @classmethod
    def describe(cls) -> dict:
        return {"name": cls.name, "description": cls.description,
                "params": [p.describe() for p in cls.params],
                "actions": [a.describe() for a in cls.actions], "models": list(cls.models),
                **({"messages": [m.describe() for m in cls.messages]} if cls.messages else {})}


def validate(cls: Any, plugin: str) -> None:
    """Raise PluginError (naming ``plugin``) unless ``cls`` is a usable generator class."""
    if not (isinstance(cls, type) and issubclass(cls, Generator)):
        raise PluginError(f"plugin {plugin}: {cls!r} is not a Generator subclass")
    if not isinstance(cls.name, str) or not NAME_RE.match(cls.name):
        raise PluginError(f"plugin {plugin}: generator name {cls.name!r} must match {NAME_RE.pattern}")
    if cls.name in RESERVED_NAMES:
        raise PluginError(f"plugin {plugin}: generator name {cls.name!r} is reserved by the host")
    if cls.next_phrase is Generator.next_phrase:
        raise PluginError(f"plugin {plugin}: generator {cls.name} does not implement next_phrase()")
    seen: set[str] = set()
    if not isinstance(cls.messages, tuple) or not all(isinstance(m, Action) for m in cls.messages):
        raise PluginError(f"plugin {plugin}: generator {cls.name}: messages must be a tuple of Action")
    for item in (*cls.params, *cls.actions, *cls.messages):
        if not isinstance(item, (Param, Action)):
            raise PluginError(f"plugin {plugin}: generator {cls.name}: {item!r} is not a Param or Action")
        if item.name in seen:
            raise PluginError(f"plugin {plugin}: generator {cls.name} declares {item.name!r} twice")
        seen.add(item.name)
        if item in cls.actions and not callable(getattr(cls, f"action_{item.name}", None)):
            raise PluginError(f"plugin {plugin}: generator {cls.name} declares action {item.name!r} "
                              f"but has no method action_{item.name}()")
    if not isinstance(cls.voices, dict):
        raise PluginError(f"plugin {plugin}: generator {cls.name}: voices must be a dict, got {cls.voices!r}")
    for channel, voice in cls.voices.items():
        ok = (isinstance(channel, int) and 0 <= channel <= 15 and isinstance(voice, tuple) and len(voice) == 2
              and isinstance(voice[0], str) and (voice[1] is None or (isinstance(voice[1], int) and 0 <= voice[1] <= 127)))
        if not ok:
            raise PluginError(f"plugin {plugin}: generator {cls.name}: voices must map channel 0..15 to "
                              f"(name, GM program 0..127 or None), got {channel!r}: {voice!r}")

"""The OSC schema: every address the host accepts and sends, built from the generator classes.

:class:`OscSchema` is the one validation table of control (:meth:`OscSchema.check`: address
known, argument count, types, ranges, choices); :mod:`bridge.osc` applies it to every datagram
and to every message of the web surface (:mod:`bridge.web`). ``cmt-bridge osc-schema`` prints
:meth:`OscSchema.describe`, which the Max / Pd patches, the docs and the web page are made from.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from .config import DEFAULT_OSC_PORT, DEFAULT_REPLY_PORT, LOOPBACK
from .errors import BridgeError, InputError
from .generator import Generator, Param

PREFIX = "/cmt"


@dataclass(frozen=True)
class Address:
    """One OSC address: its arguments (the first ``required`` of them mandatory) and what it does."""

    path: str
    args: tuple[Param, ...] = ()
    required: int = 0
    doc: str = ""
    kind: str = "host"            # host | param | action | out
    generator: str | None = None
    target: str | None = None     # the parameter or action name

    def describe(self) -> dict:
        args = []
        for i, p in enumerate(self.args):
            d = p.describe()
            d["optional"] = i >= self.required
            args.append(d)
        out = {"address": self.path, "direction": "out" if self.kind == "out" else "in",
               "kind": self.kind, "args": args, "doc": self.doc}
        if self.generator:
            out["generator"] = self.generator
        return out


def _arg(name: str, type_: type, default: Any, lo=None, hi=None, doc: str = "", choices=(), unit="") -> Param:
    return Param(name, type_, default, lo, hi, unit=unit, doc=doc, choices=tuple(choices))


def _host_addresses(names: list[str]) -> list[Address]:
    gen = dict(choices=tuple(names)) if names else {}
    first = names[0] if names else ""
    g = lambda doc: _arg("generator", str, first, doc=doc, **gen)  # noqa: E731
    return [
        Address(f"{PREFIX}/play", (g("generator to start"),
                                   _arg("replace", str, "", doc="generator to hand over to it at the launch "
                                        "bar ('*' = every other one); '' = none")),
                1, "start a generator from the next bar (launch quantized)"),
        Address(f"{PREFIX}/stop", (_arg("generator", str, "", doc="generator to stop; omit for all"),), 0,
                "stop a generator (or all) now; its sounding notes end"),
        Address(f"{PREFIX}/panic", (), 0, "stop everything: note-off for every sounding note, all-notes-off"),
        Address(f"{PREFIX}/tempo", (_arg("bpm", float, 120.0, 20.0, 300.0, unit="BPM", doc="tempo"),), 1,
                "set the tempo (beat position stays continuous)"),
        Address(f"{PREFIX}/sync", (_arg("beat", float, 0.0, 0.0, None, unit="beats",
                                        doc="the DAW's song position (Live: current_song_time)"),
                                   _arg("bpm", float, 0.0, 0.0, 300.0, unit="BPM", doc="its tempo; 0 = keep ours")),
                1, "follow a DAW's bar phase (and tempo): the host's beat moves by less than half a bar to sit "
                   "where the DAW's sits in its bar (the Live devices send it ten times a second)"),
        Address(f"{PREFIX}/status", (), 0, "ask for /cmt/status <json>"),
        Address(f"{PREFIX}/learn", (g("generator"), _arg("param", str, "", doc="parameter name")), 2,
                "the next MIDI CC that moves binds to generator.param"),
        Address(f"{PREFIX}/reload", (_arg("generator", str, "", doc="generator to reload; omit for all playing"),),
                0, "reload a generator's models from disk and hot-swap it at the next bar"),
        Address(f"{PREFIX}/preset/save", (_preset_name(),), 1,
                "save every loaded generator's parameter values as a preset (TOML in the user folder; "
                "replaces one of that name)"),
        Address(f"{PREFIX}/preset/load", (_preset_name(),), 1,
                "load a preset: every value is checked before any is set"),
        Address(f"{PREFIX}/preset/list", (), 0, "ask for /cmt/presets <json>"),
    ]


def _preset_name() -> Param:
    return _arg("name", str, "", doc="preset name (letters, digits, space, _ . + -)")


_OUT = [
    Address(f"{PREFIX}/error", (_arg("address", str, "", doc="the rejected address (or the failing generator's)"),
                                _arg("reason", str, "", doc="one line")), 2, "a rejected message or a failure",
            "out"),
    Address(f"{PREFIX}/progress", (_arg("task", str, "", doc="generator/task"),
                                   _arg("fraction", float, 0.0, 0.0, 1.0)), 2, "long work in progress", "out"),
    Address(f"{PREFIX}/info", (_arg("generator", str, ""), _arg("text", str, "", doc="one line")), 2,
            "what a generator wants the player to know (a video started or ended, a camera took over)", "out"),
    Address(f"{PREFIX}/status", (_arg("json", str, "{}", doc="tempo, beat, generators, params, cc"),), 1,
            "reply to /cmt/status", "out"),
    Address(f"{PREFIX}/note", (_arg("generator", str, ""), _arg("pitch", int, 60, 0, 127),
                               _arg("velocity", int, 64, 1, 127), _arg("duration_ms", int, 0, 0, None),
                               _arg("channel", int, 1, 1, 16)), 5, "a note, sent when it starts", "out"),
    Address(f"{PREFIX}/beat", (_arg("n", int, 0, 0, None),), 1, "every beat while the clock runs", "out"),
    Address(f"{PREFIX}/presets", (_arg("json", str, "[]", doc="the saved presets' names"),), 1,
            "reply to /cmt/preset/list", "out"),
    Address(f"{PREFIX}/learned", (_arg("generator", str, ""), _arg("param", str, ""),
                                  _arg("channel", int, 1, 1, 16), _arg("cc", int, 0, 0, 127)), 4,
            "a CC was bound by /cmt/learn", "out"),
]


class OscSchema:
    """Every address the host accepts (and sends), built from the generator classes."""

    def __init__(self, generators: dict[str, type[Generator]]):
        self.generators = dict(generators)
        self.inbound: dict[str, Address] = {a.path: a for a in _host_addresses(sorted(generators))}
        for name, cls in sorted(generators.items()):
            for p in cls.params:
                self.inbound[f"{PREFIX}/{name}/{p.name}"] = Address(
                    f"{PREFIX}/{name}/{p.name}", (p,), 1, p.doc or f"set {name}'s {p.name}", "param", name, p.name)
            for a in cls.actions:
                # action arguments are optional: missing trailing ones take their defaults (Action.bind)
                self.inbound[f"{PREFIX}/{name}/{a.name}"] = Address(
                    f"{PREFIX}/{name}/{a.name}", tuple(a.args), 0, a.doc or f"{name} {a.name}",
                    "action", name, a.name)
        self.outbound = {a.path: a for a in _OUT}
        for name, cls in sorted(generators.items()):
            for m in cls.messages:
                path = f"{PREFIX}/{name}/{m.name}"
                self.outbound[path] = Address(path, tuple(m.args), len(m.args), m.doc or f"{name} {m.name}",
                                              "out", name, m.name)

    def describe(self) -> dict:
        return {"listen": f"{LOOPBACK}:{DEFAULT_OSC_PORT}", "reply": f"{LOOPBACK}:{DEFAULT_REPLY_PORT}",
                "in": [a.describe() for a in self.inbound.values()],
                "out": [a.describe() for a in self.outbound.values()],
                "generators": {n: c.describe() for n, c in sorted(self.generators.items())}}

    def check(self, path: str, args: Iterable[Any]) -> tuple[Address, list[Any]]:
        """Validate one message: returns (address, coerced values) or raises InputError(reason)."""
        entry = self.inbound.get(path)
        if entry is None:
            raise InputError(self._unknown(path))
        args = list(args)
        if len(args) < entry.required or len(args) > len(entry.args):
            want = (f"{entry.required}" if entry.required == len(entry.args)
                    else f"{entry.required}..{len(entry.args)}")
            names = " ".join(p.name if i < entry.required else f"[{p.name}]" for i, p in enumerate(entry.args))
            raise InputError(f"takes {want} argument(s) ({names or 'none'}), got {len(args)}")
        values = [check_value(p, v) for p, v in zip(entry.args, args)]
        values += [p.default for p in entry.args[len(args):]]
        return entry, values

    def _unknown(self, path: str) -> str:
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == PREFIX[1:] and parts[2] in self.generators:
            cls = self.generators[parts[2]]
            names = [p.name for p in cls.params] + [a.name for a in cls.actions]
            return f"{parts[2]} has no parameter or action {parts[3]!r} (has: {', '.join(names)})"
        if len(parts) >= 3 and parts[1] == PREFIX[1:] and len(parts) == 4:
            return f"no generator {parts[2]!r} (have: {', '.join(sorted(self.generators)) or 'none'})"
        return "unknown address (see cmt-bridge osc-schema)"


_KIND = {int: "an int", float: "a float", str: "a string", bool: "a bool"}


def _osc_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string", bytes: "blob", type(None): "nil",
            list: "array"}.get(type(value), type(value).__name__)


def check_value(p: Param, value: Any) -> Any:
    """Type-check an OSC argument strictly (Max/Pd send floats for ints: integral floats pass)."""
    t = p.type
    ok = False
    if t is str:
        ok = isinstance(value, str)
    elif t is bool:
        ok = isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1))
    elif t is int:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    elif t is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise InputError(f"{p.name} must be a finite number, got {value!r}")
    if not ok:
        raise InputError(f"{p.name} must be {_KIND[t]}, got {_osc_kind(value)} {value!r}")
    try:
        return p.coerce(value)
    except BridgeError as e:
        raise InputError(str(e)) from None

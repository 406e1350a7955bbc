"""MIDI CC -> generator parameter mapping, from the config file and by learning.

A binding maps (channel, controller) to ``generator.param``; the CC value
0..127 is scaled linearly onto the parameter's range (ints rounded, bools on
at >= 64, choices spread over 0..127). ``learn(generator, param)`` arms the
map: the next CC that moves is bound to that parameter (magenta_midi style).
Channels are 1..16 in the config and 0..15 here.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .errors import ConfigError
from .generator import Generator, Param

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CCBinding:
    """CC ``cc`` (0..127) on ``channel`` (0..15, None = any) drives ``generator.param``."""

    cc: int
    channel: int | None
    generator: str
    param: str

    def matches(self, channel: int, cc: int) -> bool:
        return cc == self.cc and (self.channel is None or self.channel == channel)

    def to_toml(self) -> str:
        ch = "" if self.channel is None else f"\nchannel = {self.channel + 1}"
        return f'[[cc]]\ncc = {self.cc}{ch}\ngenerator = "{self.generator}"\nparam = "{self.param}"'

    def describe(self) -> dict:
        return {"cc": self.cc, "channel": None if self.channel is None else self.channel + 1,
                "generator": self.generator, "param": self.param}


def mappable(param: Param) -> bool:
    return param.type is bool or bool(param.choices) or (
        param.type in (int, float) and param.min is not None and param.max is not None)


def scale(param: Param, value: int) -> Any:
    """CC value 0..127 -> a valid value of ``param``."""
    value = min(127, max(0, int(value)))
    if param.type is bool:
        return value >= 64
    if param.choices:
        return param.choices[min(len(param.choices) - 1, value * len(param.choices) // 128)]
    if param.min is None or param.max is None:
        raise ConfigError(f"{param.name} has no range, so a CC cannot drive it")
    x = param.min + (param.max - param.min) * value / 127.0
    if param.type is int:
        return int(min(param.max, max(param.min, round(x))))
    return float(x)


def _find_param(generators: dict[str, type[Generator]], generator: str, param: str) -> Param:
    cls = generators.get(generator)
    if cls is None:
        raise ConfigError(f"cc mapping: no generator {generator!r} (have: {', '.join(sorted(generators)) or 'none'})")
    for p in cls.params:
        if p.name == param:
            if not mappable(p):
                raise ConfigError(f"cc mapping: {generator}.{param} has no range, so a CC cannot drive it")
            return p
    raise ConfigError(f"cc mapping: {generator} has no parameter {param!r} "
                      f"(has: {', '.join(p.name for p in cls.params) or 'none'})")


def binding_from_config(entry: dict, generators: dict[str, type[Generator]]) -> CCBinding:
    """One ``[[cc]]`` table -> a checked :class:`CCBinding`."""
    unknown = set(entry) - {"cc", "channel", "generator", "param"}
    if unknown:
        raise ConfigError(f"cc mapping: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        cc, gen, param = entry["cc"], entry["generator"], entry["param"]
    except KeyError as e:
        raise ConfigError(f"cc mapping {entry}: needs cc, generator and param (missing {e.args[0]})") from None
    if isinstance(cc, bool) or not isinstance(cc, int) or not 0 <= cc <= 127:
        raise ConfigError(f"cc mapping: cc must be in range 0..127, got {cc!r}")
    channel = entry.get("channel")
    if channel is not None and (isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= 16):
        raise ConfigError(f"cc mapping: channel must be in range 1..16, got {channel!r}")
    _find_param(generators, gen, param)
    return CCBinding(cc, None if channel is None else channel - 1, gen, param)


def parse_cc_flag(text: str) -> dict:
    """``--cc 21=midime.temperature`` or ``--cc 1:21=midime.temperature`` (channel:cc) -> a [[cc]] dict."""
    left, sep, right = text.partition("=")
    gen, dot, param = right.partition(".")
    if not sep or not dot:
        raise ConfigError(f"--cc {text!r}: expected [CHANNEL:]CC=GENERATOR.PARAM")
    ch, colon, cc = left.partition(":")
    try:
        entry: dict = {"cc": int(cc if colon else ch), "generator": gen, "param": param}
        if colon:
            entry["channel"] = int(ch)
    except ValueError:
        raise ConfigError(f"--cc {text!r}: channel and cc must be numbers") from None
    return entry


class CCMap:
    """Routes incoming CC to parameter setters; thread-safe (called from the MIDI input thread)."""

    def __init__(self, generators: dict[str, type[Generator]], setter: Callable[[str, str, Any], None],
                 bindings: Iterable[CCBinding] = (), on_learned: Callable[[CCBinding], None] | None = None):
        self.generators = generators
        self.setter = setter
        self.on_learned = on_learned
        self._lock = threading.Lock()
        self._bindings: list[CCBinding] = list(bindings)
        self._learning: tuple[str, str] | None = None

    @property
    def bindings(self) -> list[CCBinding]:
        with self._lock:
            return list(self._bindings)

    @property
    def learning(self) -> tuple[str, str] | None:
        return self._learning

    def bind(self, binding: CCBinding) -> None:
        """Add ``binding``, replacing any binding of the same controller."""
        _find_param(self.generators, binding.generator, binding.param)
        with self._lock:
            self._bindings = [b for b in self._bindings
                              if not (b.cc == binding.cc and b.channel == binding.channel)]
            self._bindings.append(binding)

    def learn(self, generator: str, param: str) -> None:
        """Arm: the next CC that moves binds to ``generator.param``."""
        _find_param(self.generators, generator, param)
        with self._lock:
            self._learning = (generator, param)
        log.info("learning: move a controller to bind it to %s.%s", generator, param)

    def handle(self, channel: int, cc: int, value: int) -> list[tuple[str, str, Any]]:
        """A CC arrived (channel 0..15). Returns the (generator, param, value) it set."""
        learned = None
        with self._lock:
            if self._learning is not None:
                gen, param = self._learning
                self._learning = None
                learned = CCBinding(cc, channel, gen, param)
                self._bindings = [b for b in self._bindings if not b.matches(channel, cc)]
                self._bindings.append(learned)
            targets = [b for b in self._bindings if b.matches(channel, cc)]
        if learned is not None:
            log.info("learned CC %d on channel %d -> %s.%s; to keep it, add to your config:\n%s",
                     cc, channel + 1, learned.generator, learned.param, learned.to_toml())
            if self.on_learned:
                self.on_learned(learned)
        applied = []
        for b in targets:
            p = _find_param(self.generators, b.generator, b.param)
            v = scale(p, value)
            self.setter(b.generator, b.param, v)
            applied.append((b.generator, b.param, v))
        return applied

"""Plugin CLI options built from a generator's parameter table (one declaration, many views).

``add_param_options(parser, MyGenerator, ("temperature", "top_p"))`` adds
``--temperature`` and ``--top-p`` with the type, range, unit, default and doc
of the generator's own :class:`~bridge.generator.Param` s, so a command line
tool never hand-copies a range the live generator checks. After parsing,
``param_values(args, MyGenerator, names)`` returns the values checked by the
same ``Param.coerce`` (an option not given takes the parameter's default) or
raises :class:`~bridge.errors.InputError` naming the flag: "--temperature must
be in range 0..2, got 3".
"""
from __future__ import annotations

import argparse
from typing import Any, Iterable, Sequence

from .errors import ConfigError, InputError
from .generator import Generator, Param


def _param(generator: type[Generator] | Sequence[Param], name: str) -> Param:
    """``generator``: a Generator class or its parameter table (a light module's tuple of Params)."""
    params = generator.params if isinstance(generator, type) else generator
    for p in params:
        if p.name == name:
            return p
    raise ConfigError(f"no parameter {name!r} in {getattr(generator, 'name', 'the table')}")


def _num(value: float | None) -> str:
    """A bound or value as people write it: 0..2, not 0.0..2.0; 2147483647, not 2.14748e+09."""
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _help(p: Param) -> str:
    parts = []
    if p.choices:
        parts.append("one of " + ", ".join(p.choices))
    elif p.min is not None or p.max is not None:
        parts.append(f"{_num(p.min)}..{_num(p.max)}" + (f" {p.unit}" if p.unit else ""))
    if isinstance(p.default, bool):
        parts.append(f"default {'on' if p.default else 'off'}")
    else:
        parts.append(f"default {_num(p.default)}" if isinstance(p.default, (int, float)) else f"default {p.default!r}")
    return f"{p.doc} ({', '.join(parts)})" if p.doc else f"({', '.join(parts)})"


def add_param_options(parser: argparse.ArgumentParser, generator: type[Generator] | Sequence[Param],
                      names: Iterable[str]) -> None:
    """Add ``--<name>`` (underscores as dashes) for each of ``generator``'s parameters ``names``."""
    for name in names:
        p = _param(generator, name)
        if p.type is bool:
            parser.add_argument(_flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=_help(p))
        else:
            parser.add_argument(_flag(name), dest=name, type=p.type, default=None, metavar=name.upper(),
                                choices=list(p.choices) or None, help=_help(p))


def param_values(args: argparse.Namespace, generator: type[Generator] | Sequence[Param],
                 names: Iterable[str]) -> dict[str, Any]:
    """The options ``names`` checked against ``generator``'s Params (defaults for those not given)."""
    out: dict[str, Any] = {}
    for name in names:
        p = _param(generator, name)
        value = getattr(args, name, None)
        if value is None:
            out[name] = p.default
            continue
        try:
            out[name] = p.coerce(value)
        except ConfigError as e:
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and (p.min is not None and value < p.min or p.max is not None and value > p.max):
                raise InputError(f"{_flag(name)} must be in range {_num(p.min)}..{_num(p.max)}, "
                                 f"got {_num(value)}") from None
            text = str(e)
            raise InputError(_flag(name) + (text[len(p.name):] if text.startswith(p.name) else f": {text}")) from None
    return out

"""What a musician keeps between sessions: parameter presets, learned CC mappings, personal models.

Everything lives in the user folder (:func:`user_folder`):
``$CMT_BRIDGE_HOME``, else ``$XDG_CONFIG_HOME/cmt-bridge``, else
``~/.config/cmt-bridge``:

- ``presets/<name>.toml``: a snapshot of parameter values, in the config
  file's own shape (``[generators.midime]`` tables), so a preset can be pasted
  into a config and back. Saved by ``/cmt/preset/save <name>`` (every loaded
  generator's current values) or ``cmt-bridge preset save``; loaded by
  ``/cmt/preset/load <name>``, ``cmt-bridge preset load`` or ``run --preset``.
  Every value is checked against its generator's Param before any is applied.
- ``cc.toml``: the ``[[cc]]`` bindings learned with ``/cmt/learn``, written as
  they are learned and read at the next start (the config file's ``[[cc]]``
  win for the same controller).
- ``<plugin>/``: plugins' own files (MidiMe's personal models in ``midime/``),
  reached through ``bridge.api.user_folder``.
"""
from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, InputError
from .generator import Generator

log = logging.getLogger(__name__)

ENV_HOME = "CMT_BRIDGE_HOME"
PRESETS = "presets"
CC_FILE = "cc.toml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}$")


def user_folder(*parts: str, create: bool = False) -> Path:
    """The user's cmt-bridge folder (or a sub-folder of it); ``create`` makes it."""
    home = os.environ.get(ENV_HOME)
    if home:
        root = Path(home).expanduser()
    else:
        xdg = os.environ.get("XDG_CONFIG_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "cmt-bridge"
    path = root.joinpath(*parts)
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create {path} ({e.strerror})") from None
    return path


def check_name(name: str, what: str = "preset") -> str:
    """A preset name: letters, digits, space, ``_ . + -``, 1..64 characters, no path."""
    name = str(name).strip()
    if name.endswith(".toml"):
        name = name[:-5]
    if not NAME_RE.match(name) or name.endswith("."):
        raise InputError(f"{what} name {name!r} must be 1..64 letters, digits, spaces or _ . + - "
                         f"(no path), starting with a letter or digit")
    return name


def preset_path(name: str) -> Path:
    return user_folder(PRESETS) / f"{check_name(name)}.toml"


def list_presets() -> list[str]:
    folder = user_folder(PRESETS)
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def toml_value(value: Any) -> str:
    """An int, float, bool or str as TOML (strings as JSON, which TOML's basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)


def preset_text(name: str, values: Mapping[str, Mapping[str, Any]], note: str = "") -> str:
    lines = [f"# cmt-bridge preset {name!r}, saved {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    if note:
        lines.append(f"# {note}")
    for gen, params in sorted(values.items()):
        lines += ["", f"[generators.{_toml_key(gen)}]"]
        lines += [f"{_toml_key(p)} = {toml_value(v)}" for p, v in params.items()]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    """Write through a temporary name, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_preset(name: str, values: Mapping[str, Mapping[str, Any]], *, force: bool = True,
                note: str = "") -> Path:
    """Write preset ``name``; without ``force`` an existing one is kept (InputError)."""
    path = preset_path(name)
    if path.exists() and not force:
        raise InputError(f"preset {check_name(name)!r} exists ({path}): choose another name or --force")
    return _write(user_folder(PRESETS, create=True) / path.name, preset_text(check_name(name), values, note))


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None


def read_preset(name: str) -> dict[str, dict[str, Any]]:
    """Preset ``name`` as ``{generator: {param: value}}`` (InputError when it does not exist)."""
    path = preset_path(name)
    if not path.is_file():
        have = ", ".join(list_presets()) or "none yet"
        raise InputError(f"no preset {check_name(name)!r} in {path.parent} (have: {have})")
    data = _read_toml(path)
    gens = data.get("generators", {})
    if set(data) - {"generators"} or not isinstance(gens, dict) or \
            not all(isinstance(v, dict) for v in gens.values()):
        raise ConfigError(f"{path}: a preset holds only [generators.<name>] tables of parameter values")
    return {g: dict(v) for g, v in gens.items()}


def check_preset(name: str, values: Mapping[str, Mapping[str, Any]],
                 generators: Mapping[str, type[Generator]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Coerce every value by its Param (ConfigError naming the first bad one); generators that are not
    loaded are left out and returned by name."""
    checked: dict[str, dict[str, Any]] = {}
    missing = []
    for gen, params in values.items():
        cls = generators.get(gen)
        if cls is None:
            missing.append(gen)
            continue
        table = {p.name: p for p in cls.params}
        checked[gen] = {}
        for pname, value in params.items():
            if pname not in table:
                raise ConfigError(f"preset {name}: {gen} has no parameter {pname!r} "
                                  f"(has: {', '.join(table) or 'none'})")
            try:
                checked[gen][pname] = table[pname].coerce(value)
            except ConfigError as e:
                raise ConfigError(f"preset {name}: {gen}.{e}") from None
    return checked, missing


# -- learned CC mappings ----------------------------------------------------------
def cc_path() -> Path:
    return user_folder(CC_FILE)


def read_cc() -> list[dict]:
    """The ``[[cc]]`` tables of the user's cc.toml ([] when there is none)."""
    path = cc_path()
    if not path.is_file():
        return []
    entries = _read_toml(path).get("cc", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{path}: expected [[cc]] tables")
    return entries


def remember_cc(binding) -> Path:
    """Add a learned :class:`bridge.cc.CCBinding` to cc.toml, replacing one of the same controller."""
    kept = []
    for e in read_cc():
        same = e.get("cc") == binding.cc and (e.get("channel") or 0) - 1 == (
            -1 if binding.channel is None else binding.channel)
        if not same:
            kept.append(e)
    lines = ["# MIDI CC mappings learned with /cmt/learn; cmt-bridge reads them at start",
             "# (the config file's [[cc]] win for the same controller)"]
    for e in kept:
        lines += ["", "[[cc]]"] + [f"{k} = {toml_value(v)}" for k, v in e.items()]
    lines += ["", binding.to_toml()]
    return _write(user_folder(create=True) / CC_FILE, "\n".join(lines) + "\n")


def merge_cc(learned: list, configured: list) -> list:
    """Bindings of cc.toml then of the config; a configured controller replaces a learned one."""
    taken = {(b.cc, b.channel) for b in configured}
    return [b for b in learned if (b.cc, b.channel) not in taken] + list(configured)


# -- cmt-bridge preset ... ----------------------------------------------------------
PRESET_EPILOG = """\
examples:
  cmt-bridge preset save calm --set midime.temperature=0.3 --set midime.key=D
  cmt-bridge preset save live-set --from-host        the running host's current values
  cmt-bridge preset load calm                         a running host loads it (/cmt/preset/load calm)
  cmt-bridge run --preset calm                        start with it
  cmt-bridge preset list
OSC: /cmt/preset/save s NAME, /cmt/preset/load s NAME, /cmt/preset/list (answered on /cmt/presets).
"""


def add_commands(sub) -> None:
    """``cmt-bridge preset list | show | save | load``."""
    import argparse

    from .config import DEFAULT_OSC_PORT, LOOPBACK

    p = sub.add_parser("preset", help="save and load parameter snapshots (presets)",
                       description=f"Parameter snapshots as TOML files in {user_folder(PRESETS)}.",
                       epilog=PRESET_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    psub = p.add_subparsers(dest="preset_cmd", required=True)

    def host(q) -> None:
        q.add_argument("--osc-host", default=LOOPBACK, help=f"the running host's OSC address (default {LOOPBACK})")
        q.add_argument("--osc-port", type=int, default=DEFAULT_OSC_PORT,
                       help=f"its OSC port (default {DEFAULT_OSC_PORT})")

    q = psub.add_parser("list", help="the saved presets")
    q.set_defaults(func=_cmd_list)
    q = psub.add_parser("show", help="print a preset")
    q.add_argument("name")
    q.set_defaults(func=_cmd_show)
    q = psub.add_parser("save", help="save values given here (or the running host's, --from-host)")
    q.add_argument("name")
    q.add_argument("--set", action="append", default=[], metavar="GEN.PARAM=VALUE", help="a value (repeatable)")
    q.add_argument("--config", metavar="FILE.toml", help="take the [generators.<name>] values of a config file")
    q.add_argument("--from-host", action="store_true", help="ask the running host to save its current values")
    q.add_argument("--force", action="store_true", help="replace an existing preset of that name")
    host(q)
    q.set_defaults(func=_cmd_save)
    q = psub.add_parser("load", help="make the running host load a preset (or start with run --preset NAME)")
    q.add_argument("name")
    host(q)
    q.set_defaults(func=_cmd_load)


def _generators() -> dict[str, type[Generator]]:
    from .plugins import collect_generators, make_plugin_manager

    return collect_generators(make_plugin_manager())[0]


def _send(args, address: str, *values: Any) -> None:
    import socket

    from .osc import build_message

    with socket.socket(socket.AF_INET6 if ":" in args.osc_host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(build_message(address, values), (args.osc_host, args.osc_port))
        except OSError as e:
            raise InputError(f"cannot send to {args.osc_host}:{args.osc_port} ({e.strerror})") from None
    print(f"sent {address} {' '.join(map(str, values))} to {args.osc_host}:{args.osc_port} "
          f"(the host answers on /cmt/info or /cmt/error)")


def _cmd_list(args) -> int:
    names = list_presets()
    print(f"presets in {user_folder(PRESETS)}:" if names else f"no presets yet in {user_folder(PRESETS)}")
    for name in names:
        try:
            values = read_preset(name)
            print(f"  {name}  ({', '.join(f'{g}: {len(v)} values' for g, v in sorted(values.items()))})")
        except (ConfigError, InputError) as e:
            print(f"  {name}  (unreadable: {e})")
    return 0


def _cmd_show(args) -> int:
    read_preset(args.name)   # one line when missing or broken
    print(preset_path(args.name).read_text(encoding="utf-8"), end="")
    return 0


def _cmd_save(args) -> int:
    name = check_name(args.name)
    if args.from_host:
        _send(args, "/cmt/preset/save", name)
        return 0
    from .config import parse_set, read_file

    values: dict[str, dict[str, Any]] = {}
    if args.config:
        for gen, params in read_file(args.config).get("generators", {}).items():
            values.setdefault(gen, {}).update(params)
    for gen, params in parse_set(args.set).items():
        values.setdefault(gen, {}).update(params)
    if not values:
        raise InputError("preset save needs values: --set GEN.PARAM=VALUE, --config FILE or --from-host")
    gens = _generators()
    checked, missing = check_preset(name, values, gens)
    if missing:
        raise InputError(f"preset {name}: no generator {', '.join(missing)} (have: {', '.join(sorted(gens))})")
    print(save_preset(name, checked, force=args.force))
    return 0


def _cmd_load(args) -> int:
    name = check_name(args.name)
    check_preset(name, read_preset(name), _generators())   # refuse here what the host would refuse
    _send(args, "/cmt/preset/load", name)
    return 0

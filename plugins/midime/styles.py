"""The menu of personal MidiMe models: ``.midime`` files in the user folder's ``midime/``.

``cmt-bridge midime learn ... --name mine`` (or the live ``keep mine``) puts
a model there; ``cmt-bridge midime styles`` lists them; the generator's
``style`` parameter picks one by name (a preset remembers it), and
``/cmt/midime/styles`` answers with the menu as JSON. A path to a ``.midime``
file anywhere works wherever a name does.
"""
from __future__ import annotations

import re
from pathlib import Path

from bridge.api import ConfigError, InputError, user_folder

SUFFIX = ".midime"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}$")


def folder() -> Path:
    return user_folder("midime")


def menu() -> dict[str, Path]:
    """Model name -> file, sorted by name."""
    d = folder()
    return {p.stem: p for p in sorted(d.glob(f"*{SUFFIX}"))} if d.is_dir() else {}


def is_path(ref: str) -> bool:
    return ref.endswith(SUFFIX) or "/" in ref or "\\" in ref


def path_for(name: str) -> Path:
    """Where the model called ``name`` lives in the menu (InputError for a name that is not one)."""
    if not NAME_RE.match(name) or name.endswith("."):
        raise InputError(f"style name {name!r} must be 1..64 letters, digits, spaces or _ . + - (no path)")
    return folder() / f"{name}{SUFFIX}"


def resolve(ref: str) -> Path:
    """A menu name -> its file (InputError naming the menu when there is none); a ``.midime`` path as it is."""
    ref = ref.strip()
    if is_path(ref):
        return Path(ref).expanduser()
    path = path_for(ref)
    if not path.is_file():
        names = ", ".join(menu()) or f"none yet: cmt-bridge midime learn FILES --name NAME puts one in {folder()}"
        raise InputError(f"no personal model {ref!r} (the menu: {names})")
    return path


def check(ref: str) -> None:
    """The ``style`` parameter's rule: "" or a model that exists (ConfigError, checked where values enter)."""
    if not ref:
        return
    try:
        path = resolve(ref)
    except InputError as e:
        raise ConfigError(str(e)) from None
    if not path.is_file():
        raise ConfigError(f"style: no such MidiMe file {path}")

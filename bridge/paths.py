"""Paths from users (OSC, flags): every way the OS can refuse one becomes a one-line InputError.

A path too long for the file system (``ENAMETOOLONG``), a folder where a file
is wanted (``EISDIR``), a file where a folder is wanted (``ENOTDIR``), no
permission (``EACCES``): these are bad input, not crashes. Readers call
:func:`input_file` before opening; commands call :func:`output_path` /
:func:`output_folder` on their ``-o`` target *before* the long work, so a
ten-minute job does not fail at its last step; the host and the CLI turn any
OSError that still escapes into :func:`os_reason`'s line.

Nothing is lost by writing: :func:`output_path` never names an input of the same
command (``inputs``), and refuses an existing file unless ``force``;
:func:`numbered` gives the first free ``name-2.mid``, ``name-3.mid`` ... for outputs
made again and again (a session recording), and :func:`with_time` fills a
``{time}`` placeholder.
"""
from __future__ import annotations

import errno
import os
import stat
import time
from pathlib import Path
from typing import Iterable

from .errors import InputError

SHOWN = 60   # characters of a path shown in a message (long ones are shortened in the middle)

_REASONS = {
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "the name is too long for the file system",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a part of the path is a file, not a folder",   # mkdir(exist_ok=True) over a file
    errno.EISDIR: "it is a folder, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ELOOP: "too many symbolic links",
    errno.ENOSPC: "no space left on the device",
}


def show(path: str | Path) -> str:
    """``path`` for a one-line message: at most :data:`SHOWN` characters, with its length if cut."""
    text = str(path)
    if len(text) <= SHOWN:
        return text
    return f"{text[:SHOWN // 2 - 2]}...{text[-(SHOWN // 2 - 2):]} ({len(text)} characters)"


def os_reason(err: OSError, path: str | Path | None = None) -> str:
    """One line for an OSError: the path (shortened) and what the OS said, in words."""
    where = path if path is not None else err.filename
    why = _REASONS.get(err.errno or -1) or err.strerror or type(err).__name__
    return f"{show(where)}: {why}" if where is not None else why


def input_file(path: str | Path, what: str = "file", missing: str | None = None) -> Path:
    """``path`` (``~`` expanded) if it is a readable regular file; InputError saying why not.

    ``missing`` replaces the message for a path that does not exist (default "PATH: no such WHAT").
    """
    p = Path(path).expanduser()
    try:
        st = p.stat()
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise InputError(missing or f"{show(p)}: no such {what}") from None
        raise InputError(f"{what} {os_reason(e, p)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {show(p)}: it is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {show(p)}: not a regular file")
    if not os.access(p, os.R_OK):
        raise InputError(f"{what} {show(p)}: permission denied")
    return p


def output_path(path: str | Path, what: str = "output file", *, force: bool = True,
                inputs: Iterable[str | Path] = ()) -> Path:
    """``path`` if a file can be written there (its folder is created); InputError saying why not.

    ``inputs``: files the same command reads; writing over one of them is refused, even with ``force``.
    ``force`` False: an existing file is refused too (the message names ``--force``).
    """
    p = Path(path).expanduser()
    for src in inputs:
        if same_file(p, src):
            raise InputError(f"{what} {show(p)} is an input of this command: choose another name "
                             f"(it would be overwritten)")
    try:
        if p.is_dir():
            raise InputError(f"{what} {show(p)}: it is a folder, not a file")
        p.parent.mkdir(parents=True, exist_ok=True)
        if len(p.name.encode()) > _name_max(p.parent):
            raise InputError(f"{what} {show(p)}: the name is too long for the file system")
    except OSError as e:
        raise InputError(f"{what} {os_reason(e, p)}") from None
    if not force and p.exists():
        raise InputError(f"{what} {show(p)} already exists: pass --force to overwrite it, or choose another name")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{what} {show(p)}: permission denied")
    return p


def claim_set(folder: str | Path, stem: str, force: bool = False, what: str = "-o") -> list[Path]:
    """Make room in ``folder`` for a set of files named ``stem_NN.mid``, ``stem_all.mid``, ``stem.png``...

    Files of an earlier set there are refused (InputError naming ``--force``), or with ``force`` removed
    now, so no stale ``stem_07.mid`` of a bigger earlier set is left beside the new ones. Returns what was
    removed.
    """
    import re

    p = Path(folder).expanduser()
    pattern = re.compile(rf"^{re.escape(stem)}(_(\d+|all))?\.(mid|midi|png)$")
    old = sorted(f for f in p.iterdir() if f.is_file() and pattern.match(f.name)) if p.is_dir() else []
    if old and not force:
        shown = ", ".join(f.name for f in old[:3]) + (f" and {len(old) - 3} more" if len(old) > 3 else "")
        raise InputError(f"{what} {show(p)} already holds {shown}: pass --force to replace that set, "
                         f"or choose another folder")
    for f in old:
        try:
            f.unlink()
        except OSError as e:
            raise InputError(f"{what} {os_reason(e, f)}") from None
    return old


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file (links and ``..`` resolved; False if either is missing)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def numbered(path: str | Path) -> Path:
    """``path`` if it is free, else the first free ``stem-2.ext``, ``stem-3.ext``, ...: a take never
    replaces the one before."""
    p = Path(path).expanduser()
    n = 2
    candidate = p
    while candidate.exists():
        candidate = p.with_name(f"{p.stem}-{n}{p.suffix}")
        n += 1
    return candidate


def with_time(path: str | Path, now: float | None = None) -> Path:
    """``path`` with ``{time}`` replaced by the local time ``YYYYmmdd-HHMMSS`` (``{date}`` by ``YYYYmmdd``)."""
    t = time.localtime(now)
    text = str(path).replace("{time}", time.strftime("%Y%m%d-%H%M%S", t)).replace("{date}", time.strftime("%Y%m%d", t))
    return Path(text).expanduser()


def output_folder(path: str | Path, what: str = "output folder") -> Path:
    """``path`` as a writable folder (created); InputError saying why not."""
    p = Path(path).expanduser()
    try:
        if p.exists() and not p.is_dir():
            raise InputError(f"{what} {show(p)}: it is a file, not a folder")
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{what} {os_reason(e, p)}") from None
    if not os.access(p, os.W_OK):
        raise InputError(f"{what} {show(p)}: permission denied")
    return p


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255

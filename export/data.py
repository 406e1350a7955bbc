"""Where prepared datasets live, shared by every family (no torch, no music21).

``$CMT_BRIDGE_DATA`` or ``data/``: ``cmt-bridge data prepare <dataset>`` writes
``<root>/<dataset>/`` and training reads it from there. Families that build on
another family's dataset (transcription renders MusicVAE's folk windows) find it
here, so no family imports another.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_DATA = "CMT_BRIDGE_DATA"


def data_root() -> Path:
    """Where prepared datasets live: ``$CMT_BRIDGE_DATA`` or ``data/``."""
    return Path(os.environ.get(ENV_DATA, "data"))


class FileProgress:
    """Progress over a list of files weighted by their size: the bar and its ETA count kilobytes read.

    Parsing time grows with a file's size, not with the number of files, so a few large files early
    (or late) no longer make the ETA lie the way a file count does. ``done`` names the files already
    cached (a resumed run starts where it stopped).
    """

    def __init__(self, files: list, label: str, done: set[str] = frozenset(), stream=None) -> None:
        from bridge.progress import Progress

        self.size = {str(f): max(1, Path(f).stat().st_size) for f in files}
        self.total = sum(self.size.values())
        self.read = sum(s for f, s in self.size.items() if f in done)
        self.bar = Progress(self._kb(self.total), label, done=self._kb(self.read), unit="kB", stream=stream)

    @staticmethod
    def _kb(n: int) -> int:
        return max(1, round(n / 1024))

    def update(self, path, info: str = "") -> None:
        """``path`` is done."""
        self.read += self.size[str(path)]
        self.bar.update(self._kb(self.read) - self.bar.done, info)

    def close(self) -> None:
        self.bar.close()


MIDI_SUFFIXES = (".mid", ".midi")


def midi_files(source: Path) -> list[Path]:
    """Every MIDI file under ``source``, sorted by path (a user's folder for ``data prepare midi*``)."""
    return sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def cache_each(files: list[Path], parts: Path, cache_name, work, label: str, describe, jobs: int = 2) -> None:
    """Run ``work((path, cache))`` for every file whose cache ``parts / cache_name(file)`` is missing
    (resumable), largest files first so a pool of ``jobs`` processes ends together, under a
    :class:`FileProgress` bar; ``describe(result)`` is the bar's text for a finished file (``result[0]``
    is its path)."""
    parts.mkdir(parents=True, exist_ok=True)
    size = {str(f): f.stat().st_size for f in files}
    todo = sorted(((str(f), str(parts / cache_name(f))) for f in files if not (parts / cache_name(f)).exists()),
                  key=lambda t: -size[t[0]])
    pending = {p for p, _ in todo}
    bar = FileProgress(files, label, done={str(f) for f in files} - pending)
    if jobs > 1 and len(todo) > 1:
        from multiprocessing import Pool

        with Pool(jobs) as pool:
            for r in pool.imap_unordered(work, todo):
                bar.update(r[0], describe(r))
    else:
        for item in todo:
            r = work(item)
            bar.update(r[0], describe(r))
    bar.close()

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

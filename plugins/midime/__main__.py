"""``python -m plugins.midime sample|interpolate|learn ...``: the midime commands without the host's CLI."""
from __future__ import annotations

import sys

from .commands import run

if __name__ == "__main__":
    sys.exit(run(["midime", *sys.argv[1:]]))

"""``python -m plugins.cmt video2midi ...``: the cmt commands without the host's CLI."""
from __future__ import annotations

import sys

from .commands import run

if __name__ == "__main__":
    sys.exit(run(["cmt", *sys.argv[1:]]))

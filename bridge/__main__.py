"""``python -m bridge`` = ``cmt-bridge``."""
import sys

from .cli import main

if __name__ == "__main__":  # the output process is spawned: it re-imports this module as __mp_main__
    sys.exit(main())

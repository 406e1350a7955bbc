"""``python -m bridge`` = ``cmt-bridge``."""
import sys

from .cli import main

sys.exit(main())

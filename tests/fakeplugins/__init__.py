"""Fake generator plugins for the host's tests (each file is a whole plugin).

Load them with ``CMT_BRIDGE_PLUGINS=tests/fakeplugins/arp.py`` (file paths work,
so nothing needs to be on ``sys.path``) or ``make_plugin_manager(extra=[path])``.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARP = str(HERE / "arp.py")
RAISER = str(HERE / "raiser.py")
SLOW = str(HERE / "slow.py")
BAD = str(HERE / "bad.py")
TYPO = str(HERE / "typo.py")
BROKEN = str(HERE / "broken.py")
NEEDSMODEL = str(HERE / "needsmodel.py")
TELLER = str(HERE / "teller.py")

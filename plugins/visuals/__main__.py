from .commands import run

raise SystemExit(run())

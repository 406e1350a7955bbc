"""The one progress bar: its ETA on a resumed run counts only the work of this sitting."""
from __future__ import annotations

import io
import re

from bridge.progress import Progress


def _eta(text: str) -> float:
    return float(re.findall(r"eta\s+(\d+)s", text)[-1])


def test_resumed_run_eta_uses_this_sittings_rate(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("bridge.progress.time.time", lambda: clock[0])
    out = io.StringIO()
    bar = Progress(1000, "train", done=500, every=0.0, stream=out)   # resumed half-way
    clock[0] += 10.0
    bar.update(10)            # 10 steps in 10 s: 490 left -> 490 s, not the 0.2 s a whole-run rate gives
    assert 480 <= _eta(out.getvalue()) <= 500
    assert "510/1000" in out.getvalue()


def test_fresh_run_eta(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("bridge.progress.time.time", lambda: clock[0])
    out = io.StringIO()
    bar = Progress(100, "render", every=0.0, stream=out)
    clock[0] += 5.0
    bar.update(25)            # 25 in 5 s -> 75 left in 15 s
    assert _eta(out.getvalue()) == 15

"""The tagger's sentences as a prompt schedule on the music's timeline (Deforum / Parseq keyframes).

Bars come from the recording's onsets: :func:`estimate_beat` finds the beat
period (autocorrelation of the onset strength, 60..180 BPM) and phase (the
grid that collects the most onset strength); a bar is :data:`BEATS_PER_BAR`
beats. At each bar line the sentence of the tagger window centred nearest is
taken; a keyframe is written only where the sentence changes, so prompts change
on bar boundaries and nowhere else.

- ``deforum``: the ``animation_prompts`` JSON object, ``{"<frame>": "<prompt>", ...}``
- ``parseq``: ``{"prompts": ..., "keyframes": [{"frame": f, "info": "bar n", "prompt": ...}, ...]}``
"""
from __future__ import annotations

import json

import numpy as np

FORMATS = ("deforum", "parseq")
BEATS_PER_BAR = 4
BPM_RANGE = (60.0, 180.0)


def estimate_beat(onset: np.ndarray, fps: float) -> tuple[float, float]:
    """(beat period s, first beat s) from per-frame onset strength; 120 BPM from 0 when there are no onsets."""
    onset = np.asarray(onset, np.float64)
    if len(onset) < 8 or onset.max() <= 0:
        return 0.5, 0.0
    x = onset - onset.mean()
    ac = np.correlate(x, x, mode="full")[len(x) - 1:]
    lags = np.arange(len(ac))
    lo, hi = int(fps * 60 / BPM_RANGE[1]), int(fps * 60 / BPM_RANGE[0])
    hi = min(hi, len(ac) - 1)
    if hi <= lo:
        return 0.5, 0.0
    weight = np.exp(-0.5 * np.log2(np.maximum(lags[lo:hi + 1], 1) / (fps * 0.5)) ** 2)   # prefer about 120 BPM
    lag = lo + int(np.argmax(ac[lo:hi + 1] * weight))
    period = lag / fps
    phases = [onset[p::lag].sum() for p in range(lag)]
    return period, int(np.argmax(phases)) / fps


def bar_times(duration_s: float, period_s: float, first_s: float) -> np.ndarray:
    """Bar lines from 0 to ``duration_s`` (the first bar starts at 0; later ones on the beat grid)."""
    bar = period_s * BEATS_PER_BAR
    first = first_s % bar
    lines = np.arange(first, duration_s, bar)
    return np.unique(np.concatenate([[0.0], lines[lines > 1e-6]]))


def keyframes(bars_s: np.ndarray, centres_s: np.ndarray, sentences: list[str], fps: float) -> list[dict]:
    """[{frame, bar, seconds, prompt}] at bar lines where the nearest window's sentence changes."""
    out: list[dict] = []
    for n, t in enumerate(bars_s):
        prompt = sentences[int(np.argmin(np.abs(np.asarray(centres_s) - t)))]
        if not out or out[-1]["prompt"] != prompt:
            out.append({"frame": int(round(t * fps)), "bar": n + 1, "seconds": round(float(t), 3), "prompt": prompt})
    return out


def render_schedule(frames: list[dict], fmt: str) -> str:
    if fmt == "deforum":
        return json.dumps({str(k["frame"]): k["prompt"] for k in frames}, indent=1)
    if fmt == "parseq":
        return json.dumps({"prompts": {"format": "v0.1", "enabled": True},
                           "keyframes": [{"frame": k["frame"], "info": f"bar {k['bar']}", "prompt": k["prompt"]}
                                         for k in frames]}, indent=1)
    raise ValueError(f"schedule format must be one of {', '.join(FORMATS)}")

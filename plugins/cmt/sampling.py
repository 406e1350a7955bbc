"""Bar-by-bar sampling of CMT tokens from the exported recurrent step (numpy only).

The model is two graphs (see export/cmt/model.py): ``step`` (token [B, F], s, z
-> type_logits, hidden, s, z) and ``fields`` (hidden, token_type -> logits of
the other fields, concatenated; ``offsets`` says where each field lies). Both
are passed as callables returning dicts keyed by those semantic names, which is
what ``ModelBundle.graph(name).run`` returns.

:class:`BarSampler` keeps the recurrent state between bars, so every bar costs
the same however long the music has run. Each :meth:`BarSampler.bar` forces a
bar token carrying the bar's density and strength: CMT's control parameter
``control`` (C, 0..1) is the probability that the requested class replaces
the one the model would have sampled. The model was trained on windows of
``context`` tokens; an endless live stream would run its recurrent state far
past that, so when the tokens since the last reset come near ``context`` the
sampler starts a fresh state primed with the last ``prime_bars`` bars (a few
dozen steps, once every ten-odd bars). Inside a bar the grammar of
:mod:`plugins.cmt.tokens` is enforced by masking (positions only move forward,
notes only after a position, no end token while streaming); the model's next
bar token ends the bar (it is not fed: the next call feeds its own).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bridge.api import Note
from plugins.cmt import tokens as T

log = logging.getLogger(__name__)

Graph = Callable[..., dict]
MAX_TOKENS_PER_BAR = 160
MODEL_NAME = "cmt"  # the model folder under onnx_models/
# the graphs' semantic inputs and outputs (checked by the host on load; written by export/cmt/export.py)
EXPECT = {"step": ({"token", "s", "z"}, {"type_logits", "hidden", "s", "z"}),
          "fields": ({"hidden", "token_type"}, {"logits"})}


@dataclass
class Sampling:
    """Temperature and top-p per field (missing fields: the defaults)."""

    temperature: float = 1.0
    top_p: float = 0.95
    per_field: dict[str, tuple[float, float]] = field(default_factory=dict)

    def of(self, name: str) -> tuple[float, float]:
        return self.per_field.get(name, (self.temperature, self.top_p))


def sample(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0, top_p: float = 1.0,
           allowed: np.ndarray | None = None) -> int:
    """One index from 1-D logits: masked to ``allowed``, then temperature, then nucleus (top-p)."""
    x = np.asarray(logits, dtype=np.float64)
    if allowed is not None:
        x = np.where(allowed, x, -np.inf)
    if temperature <= 0:
        return int(np.argmax(x))
    p = np.exp((x - x.max()) / temperature)
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        ps = p[order]
        cum = np.cumsum(ps)
        keep = int(np.searchsorted(cum, top_p * cum[-1], side="left")) + 1   # smallest prefix with mass >= top_p
        idx, cum = order[:keep], cum[:keep]
    else:
        idx, cum = None, np.cumsum(p)
    k = min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(cum) - 1)
    return int(idx[k]) if idx is not None else k


class BarSampler:
    """Streams bars of multi-track notes from the CMT step graphs."""

    def __init__(self, step: Graph, fields: Graph, offsets: dict[str, list[int]],
                 state_shapes: tuple[tuple[int, ...], tuple[int, ...]], beats_per_bar: float = 4.0,
                 total_bars: int = T.MAX_BARS, control: float = 1.0, sampling: Sampling | None = None,
                 seed: int | None = None, context: int = 512, prime_bars: int = 1, guide: bool = False) -> None:
        self.step_graph, self.fields_graph, self.offsets = step, fields, offsets
        self.beats_per_bar, self.spb = beats_per_bar, T.steps_per_bar(beats_per_bar)
        self.total_bars, self.control = total_bars, control
        self.sampling = sampling or Sampling()
        self.rng = np.random.default_rng(seed)
        self.s = np.zeros(state_shapes[0], np.float32)
        self.z = np.zeros(state_shapes[1], np.float32)
        self.bar_index = 0
        self.hidden: np.ndarray | None = None
        self._both: np.ndarray | None = None
        self.tokens: list[np.ndarray] = []      # the tokens the current state has seen
        self.bar_starts: list[int] = []         # where each bar begins in self.tokens
        self.context, self.prime_bars = int(context), int(prime_bars)
        self.guide = bool(guide)
        self.reprimes = 0

    @classmethod
    def from_bundle(cls, bundle, **kw) -> "BarSampler":
        """A sampler over a loaded CMT model folder (``ModelBundle``; manifest of export/cmt/export.py)."""
        from bridge.api import ModelError

        m = bundle.manifest
        if list(m.get("fields", [])) != list(T.FIELDS) or m.get("vocab") != T.VOCAB:
            raise ModelError(f"model {bundle.name} was made for other CMT tokens than plugins/cmt/tokens.py")
        (sl, *s), (zl, *z) = m["state_shapes"]["s"], m["state_shapes"]["z"]
        shapes = (tuple([sl, 1] + s), tuple([zl, 1] + z))
        samp = m.get("sampling", {})
        kw.setdefault("control", samp.get("control", 1.0))
        kw.setdefault("sampling", Sampling(samp.get("temperature", 1.0), samp.get("top_p", 0.95)))
        kw.setdefault("context", int(m.get("training", {}).get("config", {}).get("window", 512)))
        return cls(bundle.graph("step").run, bundle.graph("fields").run, m["field_offsets"], shapes, **kw)

    # -- graph calls -------------------------------------------------------------------------
    def _feed(self, row: np.ndarray) -> np.ndarray:
        out = self.step_graph(token=row[None].astype(np.int64), s=self.s, z=self.z)
        self.s, self.z, self.hidden = out["s"], out["z"], out["hidden"]
        self._both = out.get("field_logits")   # newer models: both second stages in the same call
        self.tokens.append(row)
        return out["type_logits"][0]

    def _field_logits(self, token_type: int) -> dict[str, np.ndarray]:
        if self._both is not None and token_type in (T.METRICAL, T.NOTE):
            lg = self._both[0, 0 if token_type == T.METRICAL else 1]
        else:
            lg = self.fields_graph(hidden=self.hidden, token_type=np.array([token_type], np.int64))["logits"][0]
        return {name: lg[a:b] for name, (a, b) in self.offsets.items()}

    def _pick(self, name: str, logits: np.ndarray, allowed: np.ndarray | None = None) -> int:
        t, p = self.sampling.of(name)
        return sample(logits, self.rng, t, p, allowed)

    def _time(self, row: np.ndarray) -> np.ndarray:
        b = self.bar_index % T.MAX_BARS        # an endless stream counts bars around, like pieces starting again
        row[T.F["bar"]] = 1 + b
        row[T.F["progress"]] = 1 + T.progress_class(b % max(1, self.total_bars), self.total_bars)
        return row

    def _reprime(self) -> None:
        """A fresh state that has heard only the last ``prime_bars`` bars (same tokens, same bar numbers)."""
        keep = self.tokens[self.bar_starts[-self.prime_bars]:] if self.prime_bars > 0 else []
        self.s, self.z = np.zeros_like(self.s), np.zeros_like(self.z)
        self.hidden, self._both = None, None
        self.tokens, self.bar_starts = [], []
        for row in keep:
            if row[T.F["type"]] == T.METRICAL and row[T.F["beat"]] == T.BAR_LINE:
                self.bar_starts.append(len(self.tokens))
            self._feed(row)
        self.reprimes += 1

    def _control(self, name: str, requested: int | None, logits: dict[str, np.ndarray] | None, n: int) -> int:
        if requested is not None and (logits is None or self.rng.random() < self.control):
            return 1 + int(np.clip(requested, 0, n - 1))
        if logits is None:
            return 1 + n // 2
        return self._pick(name, logits[name], np.arange(n + 1) > 0)

    def positions_for(self, density: int) -> tuple[int, int]:
        """(fewest, most) onset positions a bar of ``density`` class has (tokens.density_class inverted)."""
        if density <= 0:
            return 0, 0
        half = self.beats_per_bar / 2.0
        lo = int(np.floor((density - 1) * half + 1e-9)) + 1
        hi = self.spb if density >= T.DENSITY_CLASSES - 1 else int(np.floor(density * half + 1e-9))
        return min(lo, self.spb), min(max(hi, lo), self.spb)

    # -- one bar -----------------------------------------------------------------------------
    def bar(self, density: int | None = None, strength: int | None = None) -> tuple[dict[str, list[Note]], np.ndarray]:
        """(notes per instrument in beats from this bar's line, the bar's tokens) for the next bar."""
        if len(self.tokens) > self.context - 64 and len(self.bar_starts) > self.prime_bars:
            self._reprime()
        logits = self._field_logits(T.METRICAL) if self.hidden is not None else None
        row = self._time(np.zeros(len(T.FIELDS), np.int64))
        row[T.F["type"]], row[T.F["beat"]] = T.METRICAL, T.BAR_LINE
        row[T.F["density"]] = self._control("density", density, logits, T.DENSITY_CLASSES)
        row[T.F["strength"]] = self._control("strength", strength, logits, T.STRENGTH_CLASSES)
        first = len(self.tokens)
        self.bar_starts.append(first)
        type_logits = self._feed(row)
        # the rhythm guide keeps the bar's onset positions inside its declared density class
        lo, hi = self.positions_for(int(row[T.F["density"]]) - 1) if self.guide else (0, self.spb)
        pos, count, notes_here = -1, 0, 0
        for _ in range(MAX_TOKENS_PER_BAR):
            # grammar: pad/end never; a note only after a position; a new position (or the bar line)
            # only once the current position has a note
            allowed = np.array([False, pos < 0 or notes_here > 0, pos >= 0, False])
            if not allowed.any():
                break
            kind = self._pick("type", type_logits, allowed)
            fl = self._field_logits(kind)
            row = self._time(np.zeros(len(T.FIELDS), np.int64))
            row[T.F["type"]] = kind
            if kind == T.METRICAL:
                ok = np.zeros(T.VOCAB["beat"], bool)
                ok[T.BAR_LINE] = count >= lo
                if count < hi:
                    last = self.spb - 1 - max(0, lo - count - 1)   # leave room for the positions still needed
                    ok[2 + pos + 1:2 + last + 1] = True
                if not ok.any():
                    break
                beat = self._pick("beat", fl["beat"], ok)
                if beat == T.BAR_LINE:
                    break
                pos, count, notes_here = beat - 2, count + 1, 0
                row[T.F["beat"]] = beat
                row[T.F["strength"]] = self._pick("strength", fl["strength"], np.arange(T.VOCAB["strength"]) > 0)
            else:
                for name in ("pitch", "duration", "instrument"):
                    row[T.F[name]] = self._pick(name, fl[name], np.arange(T.VOCAB[name]) > 0)
                notes_here += 1
            type_logits = self._feed(row)
        self.bar_index += 1
        bar_tokens = np.stack(self.tokens[first:])
        return T.decode(bar_tokens, self.beats_per_bar), bar_tokens

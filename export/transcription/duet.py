"""Duets: one track per instrument from audio of two of the five instruments playing together (seed 002).

Seed 002 trains its transcriber on mixtures of its instruments with random
source presence. :class:`DuetNet` is the audio side of that: the same
log-frequency frames as the solo model, read by the same 7-frame window, then
by residual dilated convolutions that look both ways (dilations 1, 2, 4, 8:
15 frames, 240 ms, on each side; a duet is transcribed from a file, so the
model may hear what comes next: telling two timbres apart needs more than one
instant), and for each of the five instruments its own heads: pitch (silence
+ MIDI ``MIN_NOTE..MAX_NOTE``), onset and dynamics. A slot is silent when its
instrument does not play, so every note comes out attributed.

Training mixes the rendered solo chunks (``data/transcription``) on the fly
(:class:`MixSet`): two segments of two different instruments, each present with
probability 0.85 and at its own level (+-6 dB), added in the power domain of
the log spectrum (phases of two independent sources add in power on average),
floored like a real spectrum. The bench measures it on real mixed audio.

    cmt-bridge train transcription-duet --threads 1     # -> runs/transcription-duet/model.pt
    cmt-bridge export-onnx transcription-duet           # -> onnx_models/transcription-duet/
    (the shipped model is trained on from it: configs.DUET_EQ_CHAIN)
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from plugins.transcription import features, labels

from .augment import random_eq

N_INST = len(labels.INSTRUMENTS)
N_PITCH = labels.MAX_NOTE - labels.MIN_NOTE + 2   # silence + every MIDI pitch of the label range
PRESENCE = 0.85                                    # each source plays in a mixture with this probability
LEVEL_DB = 6.0
FOCUS_WEIGHT = 2.0                                 # a focus instrument's weight in the draw of a mixture's pair


class DuetNet(nn.Module):
    """[B, T + CONTEXT - 1, N_BINS] log spectrum -> per instrument: pitch log-probs [B, T, 5, N_PITCH],
    onset probability [B, T, 5], dynamics log-probs [B, T, 5, 4]."""

    def __init__(self, cfg) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.audio_hidden
        self.dilations = tuple(cfg.dilations)
        self.before = features.CONTEXT_BEFORE + sum(self.dilations)   # frames of context the graph needs
        self.after = features.CONTEXT_AFTER + sum(self.dilations)
        self.register_buffer("mean", torch.zeros(features.N_BINS))
        self.register_buffer("std", torch.ones(features.N_BINS))
        self.context = nn.Conv1d(features.N_BINS, h, features.CONTEXT)
        self.wide = nn.ModuleList(nn.Conv1d(h, h, 3, dilation=d) for d in self.dilations)
        self.trunk = nn.Sequential(nn.Conv1d(h, h, 1), nn.ReLU(), nn.Conv1d(h, h, 1), nn.ReLU())
        self.pitch = nn.Conv1d(h, N_INST * N_PITCH, 1)
        self.onset = nn.Conv1d(h, N_INST, 1)
        self.dynamics = nn.Conv1d(h, N_INST * len(labels.DYNAMICS), 1)

    def logits(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        x = ((frames - self.mean) / self.std).transpose(1, 2)
        h = F.relu(self.context(x))
        for d, conv in zip(self.dilations, self.wide):   # residual, each sees d frames further both ways
            h = h[:, :, d:h.shape[2] - d] + F.relu(conv(h))
        h = self.trunk(h)
        b, _, t = h.shape
        return {"pitch": self.pitch(h).transpose(1, 2).reshape(b, t, N_INST, N_PITCH),
                "onset": self.onset(h).transpose(1, 2),
                "dynamics": self.dynamics(h).transpose(1, 2).reshape(b, t, N_INST, len(labels.DYNAMICS))}

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What the ``duet`` graph computes: (pitch log-probs, onset probability, dynamics log-probs)."""
        o = self.logits(frames)
        return F.log_softmax(o["pitch"], -1), torch.sigmoid(o["onset"]), F.log_softmax(o["dynamics"], -1)


def mix_log_spectra(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two log-magnitude spectra of independent sources -> the log magnitude of their sum (power domain),
    floored at :data:`features.FLOOR` like a rendered spectrum (two silences mix to silence)."""
    floor2 = features.FLOOR ** 2
    power = np.exp(2.0 * a.astype(np.float64)) + np.exp(2.0 * b.astype(np.float64)) - floor2
    return (0.5 * np.log(np.maximum(power, floor2))).astype(np.float32)


class MixSet:
    """Duet segments mixed from a solo :class:`~export.transcription.train.FrameSet` (chunks are stored
    instrument by instrument, so each instrument is one contiguous run of frames)."""

    def __init__(self, solo) -> None:
        self.solo = solo
        self.runs: dict[int, tuple[int, int]] = {}
        inst = solo.instrument
        edges = np.concatenate([[0], np.flatnonzero(np.diff(inst)) + 1, [len(inst)]])
        for lo, hi in zip(edges[:-1], edges[1:]):
            k = int(inst[lo])
            if hi - lo > self.runs.get(k, (0, 0))[1] - self.runs.get(k, (0, 0))[0]:
                self.runs[k] = (int(lo), int(hi))
        if len(self.runs) < 2:
            raise ValueError("duets need rendered chunks of at least two instruments")

    def _starts(self, k: int, count: int, segment: int, rng: np.random.Generator, before: int,
                after: int) -> np.ndarray:
        lo, hi = self.runs[k]
        return rng.integers(lo + before, hi - segment - after, size=count)

    def batch(self, rng: np.random.Generator, count: int, segment: int, presence: float = PRESENCE,
              before: int = features.CONTEXT_BEFORE, after: int = features.CONTEXT_AFTER, eq_db: float = 0.0,
              focus: tuple[str, ...] = ()):
        """(frames [B, T + ctx, N_BINS], pitch targets [B, T, 5], onset targets [B, T, 5],
        dynamics targets [B, T, 5]) as torch tensors; absent instruments' slots are silence. ``before`` /
        ``after``: frames of context around the T labelled ones (the model's); ``eq_db``: each source
        through its own random smooth EQ (:func:`export.transcription.augment.random_eq`) before mixing;
        ``focus``: instrument names drawn into a mixture FOCUS_WEIGHT times as often as the others."""
        solo = self.solo
        have = sorted(self.runs)
        weight = np.array([FOCUS_WEIGHT if labels.INSTRUMENTS[k].name in focus else 1.0 for k in have])
        ctx = np.arange(-before, segment + after)
        frames = np.empty((count, len(ctx), features.N_BINS), np.float32)
        pitch = np.zeros((count, segment, N_INST), np.int64)
        onset = np.zeros((count, segment, N_INST), np.float32)
        dyn = np.zeros((count, segment, N_INST), np.int64)
        silence = np.float32(math.log(features.FLOOR))
        for i in range(count):
            pair = rng.choice(have, size=2, replace=False, p=weight / weight.sum() if focus else None)
            play = rng.random(2) < presence
            if not play.any():
                play[rng.integers(0, 2)] = True
            mix = None
            for k, on in zip(pair, play):
                if not on:
                    continue
                s = int(self._starts(int(k), 1, segment, rng, before, after)[0])
                spec = solo.spec[s + ctx] + np.float32(rng.uniform(-LEVEL_DB, LEVEL_DB) * features.DB_TO_LOG)
                if eq_db:   # over the spectrum's bins, as FrameSet.segments
                    spec[:, :features.N_BINS] += random_eq(rng, 1, eq_db) * np.float32(features.DB_TO_LOG)
                spec = np.maximum(spec, silence)
                mix = spec if mix is None else mix_log_spectra(mix, spec)
                p = solo.pitch[s:s + segment]
                pitch[i, :, k] = np.where(p >= 0, p - labels.MIN_NOTE + 1, 0).clip(0, N_PITCH - 1)
                onset[i, :, k] = solo.onset[s:s + segment]
                dyn[i, :, k] = solo.dynamics[s:s + segment]
            frames[i] = mix
        t = torch.from_numpy
        return t(frames), t(pitch), t(onset), t(dyn)


def duet_losses(model: DuetNet, frames, pitch, onset, dyn) -> dict[str, torch.Tensor]:
    cfg = model.cfg
    o = model.logits(frames)
    out = {"pitch": F.cross_entropy(o["pitch"].flatten(0, -2), pitch.flatten())}
    weight = torch.tensor([cfg.onset_pos_weight])
    out["onset"] = F.binary_cross_entropy_with_logits(o["onset"], onset, pos_weight=weight)
    sounding = (pitch > 0).flatten().float()
    ce = F.cross_entropy(o["dynamics"].flatten(0, -2), dyn.flatten(), reduction="none")
    out["dynamics"] = (ce * sounding).sum() / sounding.sum().clamp(min=1.0)
    out["total"] = out["pitch"] + cfg.onset_weight * out["onset"] + 0.5 * out["dynamics"]
    return out


def duet_accuracy(model: DuetNet, frames, pitch) -> dict[str, float]:
    """Frame accuracy per slot (silence included) and on sounding slots only."""
    with torch.no_grad():
        guess = model.logits(frames)["pitch"].argmax(-1)
    sounding = pitch > 0
    return {"slot_acc": float((guess == pitch).float().mean()),
            "sounding_acc": float((guess == pitch)[sounding].float().mean()) if sounding.any() else 0.0}

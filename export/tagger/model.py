"""The tagger network: a fixed log-mel front end inside the graph, a small CNN encoder, heads.

Why not SampleCNN: CLMR's SampleCNN (2.6 M parameters, 11 strided 1-D conv
layers on 59049 raw samples) took ~39 s per 48-pair contrastive step on this
machine's 2 cores, so an hour buys ~100 steps. Here the graph still takes raw
audio (float32 [batch, 48000] at 16 kHz), but the first layer is a fixed STFT
written as a strided Conv1d with Hann-windowed cosine/sine kernels (512
samples, hop 256) followed by a mel matrix (64 bands, 30 Hz..8 kHz) and a log,
so the model spends its compute where the music is: three 3x3 Conv2d blocks
(16/32/64 channels, pooled to 8 mel rows) and two Conv1d blocks over time
(256 channels), pooled by mean and max over time into a 512-d embedding.
~0.6 M parameters, ~110 M multiply-adds per 3 s window including the STFT.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 512, 256, 64
F_MIN, F_MAX = 30.0, 8000.0


@dataclass(frozen=True)
class NetConfig:
    """Encoder widths: conv2d channels, conv1d channels; embedding = 2 * conv1d (mean + max)."""

    c2d: tuple[int, int, int] = (16, 32, 64)
    c1d: int = 256
    hidden: int = 512  # MLP head's hidden width
    n_tags: int = 24


def mel_matrix(n_fft: int = N_FFT, n_mels: int = N_MELS, sr: int = SAMPLE_RATE,
               fmin: float = F_MIN, fmax: float = F_MAX) -> np.ndarray:
    """float32 [n_fft // 2 + 1, n_mels] triangular HTK-mel filters with unit area (Slaney-style norm)."""
    def hz2mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel2hz(m):
        return 700.0 * (10 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    edges = mel2hz(np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2))
    w = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        w[:, m] = np.maximum(0, np.minimum(up, down)) * 2.0 / (hi - lo)
    return w.astype(np.float32)


class LogMel(nn.Module):
    """float32 audio [B, S] -> log-mel [B, 1, N_MELS, frames]; frames = (S - 512) // 256 + 1 (fixed weights)."""

    def __init__(self) -> None:
        super().__init__()
        n = np.arange(N_FFT)
        k = np.arange(N_FFT // 2 + 1)[:, None]
        win = 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)
        basis = np.concatenate([np.cos(2 * np.pi * k * n / N_FFT), -np.sin(2 * np.pi * k * n / N_FFT)]) * win
        self.register_buffer("basis", torch.tensor(basis[:, None, :], dtype=torch.float32))
        self.register_buffer("mel", torch.tensor(mel_matrix()))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spec = nn.functional.conv1d(audio.unsqueeze(1), self.basis, stride=HOP)  # [B, 2F, T]
        re, im = spec.chunk(2, dim=1)
        power = re * re + im * im
        mel = torch.matmul(power.transpose(1, 2), self.mel).transpose(1, 2)  # [B, M, T]
        return torch.log(mel + 1e-6).unsqueeze(1)


def _block2d(cin: int, cout: int, pool: tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(pool))


class Encoder(nn.Module):
    """audio [B, S] -> embedding [B, 2 * c1d] (mean and max over time of the last Conv1d block)."""

    def __init__(self, cfg: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.logmel = LogMel()
        self.norm = nn.BatchNorm2d(1)
        a, b, c = cfg.c2d
        self.conv2d = nn.Sequential(_block2d(1, a, (2, 2)), _block2d(a, b, (2, 2)), _block2d(b, c, (2, 1)))
        rows = N_MELS // 8
        self.conv1d = nn.Sequential(
            nn.Conv1d(c * rows, cfg.c1d, 3, padding=1, bias=False), nn.BatchNorm1d(cfg.c1d), nn.ReLU(),
            nn.Conv1d(cfg.c1d, cfg.c1d, 3, padding=1, bias=False), nn.BatchNorm1d(cfg.c1d), nn.ReLU())
        self.dim = 2 * cfg.c1d

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """log-mel [B, 1, M, T] -> embedding (lets training augment the spectrogram cheaply)."""
        h = self.conv2d(self.norm(x))
        h = self.conv1d(h.flatten(1, 2))
        return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.features(self.logmel(audio))


def make_head(kind: str, dim: int, cfg: NetConfig) -> nn.Module:
    """'linear' (CLMR's linear evaluation) or 'mlp' (one hidden layer, as CLMR's MLP head)."""
    if kind == "linear":
        return nn.Linear(dim, cfg.n_tags)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(dim, cfg.hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(cfg.hidden, cfg.n_tags))
    raise ValueError(f"unknown head {kind!r}: linear or mlp")


class Tagger(nn.Module):
    """audio [B, S] -> (logits [B, n_tags], embedding [B, D]): the exported graph."""

    def __init__(self, cfg: NetConfig = NetConfig(), head: str = "mlp") -> None:
        super().__init__()
        self.encoder = Encoder(cfg)
        self.head = make_head(head, self.encoder.dim, cfg)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.encoder(audio)
        return self.head(emb), emb


class Projection(nn.Module):
    """CLMR's projection head for NT-Xent: D -> D -> 128."""

    def __init__(self, dim: int, out: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR / CLMR normalised temperature-scaled cross entropy over 2N views."""
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    n = len(z1)
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return nn.functional.cross_entropy(sim, target)

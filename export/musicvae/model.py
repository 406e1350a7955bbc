"""MusicVAE for 2-bar melodies in torch: bidirectional GRU encoder, autoregressive GRU decoder.

Trained in the parallel (teacher-forced) form; exported as three graphs the
host calls step by step: ``encoder`` (melody -> mu, sigma), ``decoder_init``
(z -> state) and ``decoder_step`` (z, previous token, state -> logits, state).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plugins.midime.melody import NUM_CLASSES, START, STEPS

from .configs import MusicVAEConfig


class MusicVAE(nn.Module):
    def __init__(self, cfg: MusicVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(NUM_CLASSES + 1, cfg.embed)
        self.encoder = nn.GRU(cfg.embed, cfg.enc_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * cfg.enc_hidden, cfg.z_dim)
        self.to_sigma = nn.Linear(2 * cfg.enc_hidden, cfg.z_dim)
        self.z_to_state = nn.Linear(cfg.z_dim, cfg.dec_layers * cfg.dec_hidden)
        self.decoder = nn.GRU(cfg.embed + cfg.z_dim, cfg.dec_hidden, num_layers=cfg.dec_layers, batch_first=True)
        self.out = nn.Linear(cfg.dec_hidden + cfg.z_dim, NUM_CLASSES)

    # -- the three exported graphs ------------------------------------------------
    def encode(self, melody: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """melody int64 [B, 32] -> mu, sigma [B, Z]."""
        _, h = self.encoder(self.embed(melody))
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.to_mu(h), F.softplus(self.to_sigma(h)) + 1e-4

    def init_state(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, Z] -> decoder state [L, B, H]."""
        b = z.shape[0]
        s = torch.tanh(self.z_to_state(z))
        return s.view(b, self.cfg.dec_layers, self.cfg.dec_hidden).transpose(0, 1).contiguous()

    def step(self, z: torch.Tensor, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder step: z [B, Z], prev int64 [B], state [L, B, H] -> logits [B, C], state."""
        x = torch.cat([self.embed(prev), z], dim=-1).unsqueeze(1)
        y, state = self.decoder(x, state)
        return self.out(torch.cat([y[:, 0], z], dim=-1)), state

    # -- training form -------------------------------------------------------------
    def forward(self, melody: torch.Tensor, inputs: torch.Tensor, eps: torch.Tensor):
        """Teacher-forced pass: -> logits [B, T, C], mu, sigma (one call, so DDP can wrap it)."""
        mu, sigma = self.encode(melody)
        return self.decode_teacher(mu + sigma * eps, inputs), mu, sigma

    def decode_teacher(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, T, C] for decoder inputs [B, T] (START first)."""
        t = inputs.shape[1]
        zz = z.unsqueeze(1).expand(-1, t, -1)
        y, _ = self.decoder(torch.cat([self.embed(inputs), zz], dim=-1), self.init_state(z))
        return self.out(torch.cat([y, zz], dim=-1))

    @torch.no_grad()
    def decode_greedy(self, z: torch.Tensor, steps: int = STEPS) -> torch.Tensor:
        """Free-running argmax decoding: z [B, Z] -> tokens [B, steps]."""
        state = self.init_state(z)
        prev = torch.full((z.shape[0],), START, dtype=torch.long)
        out = []
        for _ in range(steps):
            logits, state = self.step(z, prev, state)
            prev = logits.argmax(-1)
            out.append(prev)
        return torch.stack(out, 1)


def decoder_inputs(melody: torch.Tensor) -> torch.Tensor:
    """Shift right with START: the decoder sees token t-1 when predicting token t."""
    start = torch.full((melody.shape[0], 1), START, dtype=melody.dtype)
    return torch.cat([start, melody[:, :-1]], dim=1)

"""The 16-bar MusicVAE in torch: a bidirectional GRU encoder over 256 sixteenths, and either the
hierarchical decoder of hierdec-mel_16bar or the flat baseline.

Hierarchical (Roberts et al. 2018, section 3.2): the conductor, a GRU run for
16 steps from a state made from z, turns z into one embedding ``c`` per bar.
Each bar is then decoded by the bottom GRU from a state made from its ``c``,
reset at every bar, so the bottom decoder cannot carry the piece on its own
and must listen to the conductor (and through it to z). The bottom decoder
sees ``c`` at every step; its first input in a bar is the previous bar's last
token (START for bar 0), so a note held across the barline stays held.

Trained teacher-forced with all 16 bars in parallel (a batch of B*16 bars);
exported as ``encoder``, ``conductor`` (z -> 16 embeddings) and ``bar_step``
(one decoder step), from which export/musicvae16/bar_graph.py builds
``bar_sample``: one bar in one onnxruntime call.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plugins.midime.melody import NUM_CLASSES, START, STEPS_PER_BAR

from .configs import HierConfig

BARS = 16


class MusicVAE16(nn.Module):
    def __init__(self, cfg: HierConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(NUM_CLASSES + 1, cfg.embed)
        self.encoder = nn.GRU(cfg.embed, cfg.enc_hidden, batch_first=True, bidirectional=True)
        self.to_mu = nn.Linear(2 * cfg.enc_hidden, cfg.z_dim)
        self.to_sigma = nn.Linear(2 * cfg.enc_hidden, cfg.z_dim)
        if cfg.decoder == "hier":
            self.z_to_conductor = nn.Linear(cfg.z_dim, cfg.conductor)
            self.conductor = nn.GRU(1, cfg.conductor, batch_first=True)
            self.to_bar = nn.Linear(cfg.conductor, cfg.bar_embed)
            cond = cfg.bar_embed
        else:
            cond = cfg.z_dim
        self.cond_to_state = nn.Linear(cond, cfg.dec_layers * cfg.dec_hidden)
        self.decoder = nn.GRU(cfg.embed + cond, cfg.dec_hidden, num_layers=cfg.dec_layers, batch_first=True)
        self.out = nn.Linear(cfg.dec_hidden + cond, NUM_CLASSES)

    # -- exported graphs --------------------------------------------------------------
    def encode(self, melody: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """melody int64 [B, 256] -> mu, sigma [B, Z]."""
        _, h = self.encoder(self.embed(melody))
        h = torch.cat([h[0], h[1]], dim=-1)
        return self.to_mu(h), F.softplus(self.to_sigma(h)) + 1e-4

    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, Z] -> one embedding per bar [B, 16, E] (hier); the flat decoder's condition is z itself."""
        h0 = torch.tanh(self.z_to_conductor(z)).unsqueeze(0)
        y, _ = self.conductor(z.new_zeros(z.shape[0], BARS, 1), h0)
        return torch.tanh(self.to_bar(y))

    def init_state(self, c: torch.Tensor) -> torch.Tensor:
        """condition [N, E] -> bottom decoder state [L, N, H]."""
        n = c.shape[0]
        s = torch.tanh(self.cond_to_state(c))
        return s.view(n, self.cfg.dec_layers, self.cfg.dec_hidden).transpose(0, 1).contiguous()

    def step(self, c: torch.Tensor, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder step: c [N, E], prev int64 [N], state [L, N, H] -> logits [N, C], state."""
        x = torch.cat([self.embed(prev), c], dim=-1).unsqueeze(1)
        y, state = self.decoder(x, state)
        return self.out(torch.cat([y[:, 0], c], dim=-1)), state

    # -- training form -----------------------------------------------------------------
    def forward(self, melody: torch.Tensor, inputs: torch.Tensor, eps: torch.Tensor):
        mu, sigma = self.encode(melody)
        return self.decode_teacher(mu + sigma * eps, inputs), mu, sigma

    def decode_teacher(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, 256, C] for decoder inputs [B, 256] (see :func:`decoder_inputs`)."""
        b, t = inputs.shape
        if self.cfg.decoder == "flat":
            zz = z.unsqueeze(1).expand(-1, t, -1)
            y, _ = self.decoder(torch.cat([self.embed(inputs), zz], dim=-1), self.init_state(z))
            return self.out(torch.cat([y, zz], dim=-1))
        c = self.conduct(z).reshape(b * BARS, -1)                       # [B*16, E]
        x = inputs.reshape(b * BARS, STEPS_PER_BAR)
        cc = c.unsqueeze(1).expand(-1, STEPS_PER_BAR, -1)
        y, _ = self.decoder(torch.cat([self.embed(x), cc], dim=-1), self.init_state(c))
        return self.out(torch.cat([y, cc], dim=-1)).reshape(b, t, NUM_CLASSES)

    @torch.no_grad()
    def decode_greedy(self, z: torch.Tensor, steps: int = BARS * STEPS_PER_BAR) -> torch.Tensor:
        """Free-running argmax decoding: z [B, Z] -> tokens [B, 256]."""
        b = z.shape[0]
        prev = torch.full((b,), START, dtype=torch.long)
        out = []
        if self.cfg.decoder == "flat":
            state = self.init_state(z)
            for _ in range(steps):
                logits, state = self.step(z, prev, state)
                prev = logits.argmax(-1)
                out.append(prev)
            return torch.stack(out, 1)
        c = self.conduct(z)
        for bar in range(steps // STEPS_PER_BAR):
            state = self.init_state(c[:, bar])
            for _ in range(STEPS_PER_BAR):
                logits, state = self.step(c[:, bar], prev, state)
                prev = logits.argmax(-1)
                out.append(prev)
        return torch.stack(out, 1)


def decoder_inputs(melody: torch.Tensor) -> torch.Tensor:
    """Shift right with START: the decoder sees token t-1 when predicting token t (across barlines too:
    a bar's first input is the previous bar's last token)."""
    start = torch.full((melody.shape[0], 1), START, dtype=melody.dtype)
    return torch.cat([start, melody[:, :-1]], dim=1)

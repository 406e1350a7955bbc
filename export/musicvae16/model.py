"""The 16-bar MusicVAE in torch: a hierarchical encoder (a bidirectional GRU per bar, then one over the
16 bar summaries; or one bidirectional GRU over 256 sixteenths, ``encoder="seq"``), and either the
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
        if cfg.encoder == "bar":
            self.bar_encoder = nn.GRU(cfg.embed, cfg.bar_enc_hidden, batch_first=True, bidirectional=True)
            self.to_code = nn.Linear(2 * cfg.bar_enc_hidden, cfg.bar_embed)
            self.encoder = nn.GRU(cfg.bar_embed, cfg.enc_hidden, batch_first=True, bidirectional=True)
        elif cfg.encoder == "seq":
            self.encoder = nn.GRU(cfg.embed, cfg.enc_hidden, batch_first=True, bidirectional=True)
        else:
            raise ValueError(f"encoder must be 'bar' or 'seq', not {cfg.encoder!r}")
        if cfg.enc_pool not in ("last", "bars") or (cfg.enc_pool == "bars" and cfg.encoder != "bar"):
            raise ValueError(f"enc_pool must be 'last' or 'bars' (with the 'bar' encoder), not {cfg.enc_pool!r}")
        pooled = 2 * cfg.enc_hidden
        if cfg.enc_pool == "bars":   # each bar's output, made small by one shared map, then all 16 side by side
            self.bar_pool = nn.Linear(2 * cfg.enc_hidden, cfg.pool_dim)
            pooled = BARS * cfg.pool_dim
        self.to_mu = nn.Linear(pooled, cfg.z_dim)
        self.to_sigma = nn.Linear(pooled, cfg.z_dim)
        if cfg.decoder == "hier":
            self.z_to_conductor = nn.Linear(cfg.z_dim, cfg.conductor)
            if cfg.conductor_input not in ("zeros", "z"):
                raise ValueError(f"conductor_input must be 'zeros' or 'z', not {cfg.conductor_input!r}")
            c_in = cfg.z_dim + BARS if cfg.conductor_input == "z" else 1
            self.conductor = nn.GRU(c_in, cfg.conductor, batch_first=True)
            self.to_bar = nn.Linear(cfg.conductor, cfg.bar_embed)
            cond = cfg.bar_embed
        else:
            cond = cfg.z_dim
        self.cond_to_state = nn.Linear(cond, cfg.dec_layers * cfg.dec_hidden)
        self.decoder = nn.GRU(cfg.embed + cond, cfg.dec_hidden, num_layers=cfg.dec_layers, batch_first=True)
        self.out = nn.Linear(cfg.dec_hidden + cond, NUM_CLASSES)

    # -- exported graphs --------------------------------------------------------------
    def encode(self, melody: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """melody int64 [B, 256] -> mu, sigma [B, Z].

        ``bar``: each bar is read by its own (shared) bidirectional GRU, 16 steps, all bars at once,
        into a bar code (the size of a conductor embedding, see :meth:`bar_codes`); the 16 codes are
        then read by a bidirectional GRU over bars. A bar's notes are at most 16 + 16 recurrent steps
        from z instead of up to 256."""
        return self._encode(melody)[:2]

    def bar_codes(self, melody: torch.Tensor) -> torch.Tensor:
        """melody int64 [B, 256] -> one code per bar [B, 16, E] ("bar" encoder): what the bottom decoder
        can decode a bar from, and what the conductor learns to produce from z (the aux loss)."""
        b = melody.shape[0]
        _, hb = self.bar_encoder(self.embed(melody).reshape(b * BARS, STEPS_PER_BAR, -1))
        return torch.tanh(self.to_code(torch.cat([hb[0], hb[1]], dim=-1))).reshape(b, BARS, -1)

    def _encode(self, melody: torch.Tensor):
        codes = None
        if self.cfg.encoder == "bar":
            codes = x = self.bar_codes(melody)
        else:
            x = self.embed(melody)
        y, h = self.encoder(x)
        if self.cfg.enc_pool == "bars":     # every bar's output, both directions: each bar one step from z
            h = torch.tanh(self.bar_pool(y)).reshape(y.shape[0], -1)
        else:
            h = torch.cat([h[0], h[1]], dim=-1)
        return self.to_mu(h), F.softplus(self.to_sigma(h)) + 1e-4, codes

    def conduct(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, Z] -> one embedding per bar [B, 16, E] (hier); the flat decoder's condition is z itself."""
        h0 = torch.tanh(self.z_to_conductor(z)).unsqueeze(0)
        if self.cfg.conductor_input == "z":   # z and a one-hot bar position at every step
            pos = torch.eye(BARS, dtype=z.dtype, device=z.device).unsqueeze(0).expand(z.shape[0], -1, -1)
            x = torch.cat([z.unsqueeze(1).expand(-1, BARS, -1), pos], dim=-1)
        else:
            x = z.new_zeros(z.shape[0], BARS, 1)
        y, _ = self.conductor(x, h0)
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
        """Training: logits, mu, sigma, and with ``aux`` > 0 a dict of extra loss terms per window.

        The aux (bar-code) path gives the two halves of the hierarchy short training paths of their
        own: the bottom decoder also decodes every bar from the encoder's code for that bar (a
        one-bar autoencoder, 16 steps deep), and the conductor's embeddings are pulled towards those
        codes (mean squared error, the codes held fixed). The exported model is unchanged: z ->
        conductor -> bottom decoder."""
        mu, sigma, codes = self._encode(melody)
        z = mu + sigma * eps
        if not (self.cfg.aux > 0 and codes is not None and self.cfg.decoder == "hier"):
            return self.decode_teacher(z, inputs), mu, sigma
        c = self.conduct(z)
        logits = self._decode_bars(c, inputs)
        code_logits = self._decode_bars(codes, inputs)
        code_rec = F.cross_entropy(code_logits.reshape(-1, NUM_CLASSES), melody.reshape(-1),
                                   reduction="none").view(melody.shape).sum(1)
        code_mse = (c - codes.detach()).pow(2).sum((1, 2))
        with torch.no_grad():
            code_acc = (code_logits.argmax(-1) == melody).float().mean()
        aux = {"code_rec": code_rec, "code_mse": code_mse,
               "loss": self.cfg.aux * (code_rec + self.cfg.code_weight * code_mse), "code_tf_acc": code_acc}
        return logits, mu, sigma, aux

    def decode_teacher(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, 256, C] for decoder inputs [B, 256] (see :func:`decoder_inputs`)."""
        b, t = inputs.shape
        if self.cfg.decoder == "flat":
            zz = z.unsqueeze(1).expand(-1, t, -1)
            y, _ = self.decoder(torch.cat([self.embed(inputs), zz], dim=-1), self.init_state(z))
            return self.out(torch.cat([y, zz], dim=-1))
        return self._decode_bars(self.conduct(z), inputs)

    def _decode_bars(self, bars: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Bottom decoder, teacher-forced, every bar at once from its embedding: bars [B, 16, E] -> logits."""
        b, t = inputs.shape
        c = bars.reshape(b * BARS, -1)                                   # [B*16, E]
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

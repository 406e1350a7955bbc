"""CMT's transformer with causal *linear* attention, in plain torch (no pytorch-fast-transformers).

Attention is Katharopoulos et al.'s linear attention with the feature map
``phi(x) = elu(x) + 1``: for a query at position t,

    out_t = phi(q_t) . S_t / (phi(q_t) . z_t + eps),   S_t = sum_{j<=t} phi(k_j) v_j^T,  z_t = sum_{j<=t} phi(k_j)

Two forms compute the same thing:

- :meth:`CMTModel.forward` (parallel, for training): the masked quadratic form
  ``(phi(Q) phi(K)^T * causal) V``, exact and simple;
- :meth:`CMTModel.step` (recurrent, for streaming and ONNX export): one token
  in, a fixed-size state per layer in and out (``S`` [L, B, H, d_k, d_v],
  ``z`` [L, B, H, d_k]), so a token costs the same at bar 1 and bar 500.

Inputs are compound-word tokens int64 [B, T, F] (:mod:`plugins.cmt.tokens`):
each field has its own embedding, the embeddings are concatenated and projected
to ``d_model`` (as in CMT). Outputs: the *type* is predicted from the hidden
state; the other fields from the hidden state plus the embedding of the type
(the true one in training, the sampled one at run time), CMT's two-stage
prediction. :meth:`CMTModel.fields` is that second stage on its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from plugins.cmt.tokens import FIELDS, VOCAB_SIZES

EPS = 1e-6


@dataclass(frozen=True)
class CMTConfig:
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    d_ff: int = 1024
    dropout: float = 0.1
    vocab_sizes: tuple[int, ...] = VOCAB_SIZES
    embed_sizes: tuple[int, ...] = field(default=(32, 64, 32, 32, 256, 128, 32, 64, 32))

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def phi(x: torch.Tensor) -> torch.Tensor:
    """elu(x) + 1, computed as exp(x) below 0 rather than (exp(x) - 1) + 1.

    The same function, but without the cancellation: a trained model drives some
    keys and queries to x << 0, where (exp(x) - 1) + 1 keeps only a few bits of
    exp(x) and torch and onnxruntime round it differently (0.05 apart in the
    hidden state after one token); exp(x) is exact to float precision in both.
    """
    return torch.where(x > 0, x + 1.0, torch.exp(torch.clamp(x, max=0.0)))


class LinearAttention(nn.Module):
    def __init__(self, cfg: CMTConfig) -> None:
        super().__init__()
        self.h, self.dk = cfg.n_heads, cfg.d_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        shape = x.shape[:-1] + (self.h, self.dk)
        return phi(q.reshape(shape)), phi(k.reshape(shape)), v.reshape(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Parallel causal form: x [B, T, D] -> [B, T, D]."""
        q, k, v = self._split(x)                                  # [B, T, H, dk]
        t = x.shape[1]
        a = torch.einsum("bthd,bshd->bhts", q, k)
        a = a * torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        num = torch.einsum("bhts,bshd->bthd", a, v)
        den = a.sum(-1).transpose(1, 2).unsqueeze(-1)             # [B, T, H, 1]
        y = num / (den + EPS)
        return self.out(y.reshape(x.shape))

    def step(self, x: torch.Tensor, s: torch.Tensor, z: torch.Tensor):
        """Recurrent form: x [B, D], s [B, H, dk, dk], z [B, H, dk] -> (y [B, D], s, z)."""
        q, k, v = self._split(x)                                  # [B, H, dk]
        s = s + k.unsqueeze(-1) * v.unsqueeze(-2)
        z = z + k
        num = torch.einsum("bhd,bhde->bhe", q, s)
        den = (q * z).sum(-1, keepdim=True)
        y = num / (den + EPS)
        return self.out(y.reshape(x.shape)), s, z


class Block(nn.Module):
    def __init__(self, cfg: CMTConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = LinearAttention(cfg)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.ff(self.ln2(x)))

    def step(self, x: torch.Tensor, s: torch.Tensor, z: torch.Tensor):
        a, s, z = self.attn.step(self.ln1(x), s, z)
        x = x + a
        return x + self.ff(self.ln2(x)), s, z


class CMTModel(nn.Module):
    def __init__(self, cfg: CMTConfig = CMTConfig()) -> None:
        super().__init__()
        if len(cfg.vocab_sizes) != len(FIELDS) or len(cfg.embed_sizes) != len(FIELDS):
            raise ValueError(f"a CMT config needs one vocab and embedding size per field ({len(FIELDS)})")
        self.cfg = cfg
        self.embed = nn.ModuleList(nn.Embedding(v, e) for v, e in zip(cfg.vocab_sizes, cfg.embed_sizes))
        self.proj = nn.Linear(sum(cfg.embed_sizes), cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.type_head = nn.Linear(cfg.d_model, cfg.vocab_sizes[0])
        self.type_proj = nn.Linear(cfg.embed_sizes[0], cfg.d_model)
        self.heads = nn.ModuleList(nn.Linear(cfg.d_model, v) for v in cfg.vocab_sizes[1:])

    def state_shapes(self, batch: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
        c = self.cfg
        return (c.n_layers, batch, c.n_heads, c.d_head, c.d_head), (c.n_layers, batch, c.n_heads, c.d_head)

    def initial_state(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        s, z = self.state_shapes(batch)
        return torch.zeros(s), torch.zeros(z)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.proj(torch.cat([e(tokens[..., i]) for i, e in enumerate(self.embed)], dim=-1))

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """Parallel form: tokens int64 [B, T, F] -> hidden [B, T, D] (position t sees tokens <= t)."""
        x = self._embed(tokens)
        for b in self.blocks:
            x = b(x)
        return self.ln(x)

    def fields(self, hidden: torch.Tensor, token_type: torch.Tensor) -> list[torch.Tensor]:
        """Second stage: logits of every field after *type*, given the hidden state and the type."""
        h = hidden + self.type_proj(self.embed[0](token_type))
        return [head(h) for head in self.heads]

    def forward(self, tokens: torch.Tensor, next_type: torch.Tensor) -> list[torch.Tensor]:
        """Logits per field (type first) for the token after each position; ``next_type`` [B, T]."""
        h = self.hidden(tokens)
        return [self.type_head(h)] + self.fields(h, next_type)

    def loss(self, tokens: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, list[float]]:
        """Mean next-token cross-entropy over fields, and the per-field losses (fields with target 0 skip)."""
        inp, tgt = tokens[:, :-1], tokens[:, 1:]
        logits = self(inp, tgt[..., 0])
        valid = tgt[..., 0] > 0 if mask is None else mask[:, 1:]
        losses = []
        for i, lg in enumerate(logits):
            m = valid & ((tgt[..., i] > 0) if i > 0 else torch.ones_like(valid))
            l = F.cross_entropy(lg[m], tgt[..., i][m]) if m.any() else lg.sum() * 0.0
            losses.append(l)
        return torch.stack(losses).mean(), [float(l) for l in losses]

    def step(self, token: torch.Tensor, s: torch.Tensor, z: torch.Tensor):
        """Recurrent form: token int64 [B, F], s, z (:meth:`state_shapes`) -> (type logits, hidden, s, z)."""
        x = self._embed(token)
        ss, zs = [], []
        for i, b in enumerate(self.blocks):
            x, si, zi = b.step(x, s[i], z[i])
            ss.append(si)
            zs.append(zi)
        h = self.ln(x)
        return self.type_head(h), h, torch.stack(ss), torch.stack(zs)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class StepGraph(nn.Module):
    """The ONNX ``step`` graph: (token [B, F], s, z) -> (type_logits, hidden, s, z, field_logits).

    ``field_logits`` [B, 2, K] are the second-stage logits for both types a
    sampler can pick next (metrical, note), so one call per token is enough.
    """

    def __init__(self, model: CMTModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, token, s, z):
        type_logits, h, s, z = self.model.step(token, s, z)
        b = h.shape[0]
        both = torch.tensor([1, 2], dtype=torch.long).repeat(b)                 # METRICAL, NOTE per row
        fl = torch.cat(self.model.fields(h.repeat_interleave(2, dim=0), both), dim=-1)
        return type_logits, h, s, z, fl.reshape(b, 2, -1)


class FieldsGraph(nn.Module):
    """The ONNX ``fields`` graph: (hidden [B, D], token_type [B]) -> logits of all other fields, concatenated."""

    def __init__(self, model: CMTModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, hidden, token_type):
        return torch.cat(self.model.fields(hidden, token_type), dim=-1)


def export_step(model: CMTModel, path, opset: int = 17) -> None:
    """Export the recurrent step (batch dim dynamic) with the legacy exporter."""
    model.eval()
    s, z = model.initial_state(1)
    token = torch.zeros(1, len(FIELDS), dtype=torch.long)
    # an eval() wrapper: the exporter restores the wrapper's mode afterwards, and a fresh module
    # is in training mode, which would leave the model's dropout on
    torch.onnx.export(StepGraph(model).eval(), (token, s, z), str(path), dynamo=False, opset_version=opset,
                      input_names=["token", "s", "z"],
                      output_names=["type_logits", "hidden", "s_out", "z_out", "field_logits"],
                      dynamic_axes={"token": {0: "B"}, "s": {1: "B"}, "z": {1: "B"}, "type_logits": {0: "B"},
                                    "hidden": {0: "B"}, "s_out": {1: "B"}, "z_out": {1: "B"},
                                    "field_logits": {0: "B"}})


def export_fields(model: CMTModel, path, opset: int = 17) -> None:
    model.eval()
    hidden = torch.zeros(1, model.cfg.d_model)
    ttype = torch.zeros(1, dtype=torch.long)
    torch.onnx.export(FieldsGraph(model).eval(), (hidden, ttype), str(path), dynamo=False, opset_version=opset,
                      input_names=["hidden", "token_type"], output_names=["logits"],
                      dynamic_axes={"hidden": {0: "B"}, "token_type": {0: "B"}, "logits": {0: "B"}})


def field_offsets(cfg: CMTConfig) -> dict[str, list[int]]:
    """Where each field's logits lie in the ``fields`` graph's output: {field: [start, stop]}."""
    out, at = {}, 0
    for name, v in zip(FIELDS[1:], cfg.vocab_sizes[1:]):
        out[name] = [at, at + v]
        at += v
    return out


def model_size_mb(model: CMTModel) -> float:
    return model.n_params() * 4 / 2 ** 20


__all__ = ["CMTConfig", "CMTModel", "export_step", "export_fields", "field_offsets", "phi"]

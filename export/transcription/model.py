"""The cross-modal VAE of Chemla--Romeu-Santos et al. (IJCNN 2019), small and frame-wise, in torch.

Two VAEs whose latent spaces are tied together:

* the **audio VAE** encodes a context of :data:`~plugins.transcription.features.CONTEXT`
  log-frequency frames into ``z_a`` (a temporal convolution over the context, so the
  ONNX graph runs on a whole spectrogram at once) and decodes ``z`` into the spectrum
  of the frame;
* the **symbol VAE** encodes the frame's labels (pitch class, octave, dynamics,
  instrument, one-hot) into ``z_s`` and decodes ``z`` into the same labels.

Training adds the paper's cross-regularisation ``KL(q(z_a|x) || q(z_s|y))`` and
the two transfer paths (audio encoder -> symbol decoder, symbol encoder -> audio
decoder) so that a latent from either side decodes on both. Transcription is
audio encoder -> symbol decoder plus a small onset head on the audio encoder's
hidden layer (frame labels alone cannot split repeated notes); generation is
symbol encoder -> audio decoder -> spectrum (then Griffin-Lim in numpy).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from plugins.transcription import features, labels

from .configs import TranscriptionConfig

HEADS = (("pitch_class", labels.PITCH_CLASSES + 1), ("octave", labels.OCTAVES + 1),
         ("dynamics", len(labels.DYNAMICS)), ("instrument", len(labels.INSTRUMENTS)))


class AudioEncoder(nn.Module):
    """[B, T + CONTEXT - 1, N_BINS] log spectrum -> hidden, mu, logvar [B, T, .]."""

    def __init__(self, hidden: int, z_dim: int, past: tuple = (), past_hidden: int = 128, fast: int = 0) -> None:
        super().__init__()
        self.width = features.N_BINS + fast   # input columns: the spectrum, then the fast bands (config fast_bands)
        self.register_buffer("mean", torch.zeros(self.width))
        self.register_buffer("std", torch.ones(self.width))
        self.context = nn.Conv1d(self.width, hidden, features.CONTEXT)
        # past context (config ``past``): residual blocks, each a causal conv seeing d frames further back and a
        # 1x1 conv started at zero, so a model with them starts as the model without (``--init``)
        self.past = tuple(past)
        self.before = features.CONTEXT_BEFORE + sum(self.past)   # frames of context the graph needs
        self.after = features.CONTEXT_AFTER
        self.blocks = nn.ModuleList(nn.Sequential(nn.Conv1d(hidden, past_hidden, 2, dilation=d), nn.ReLU(),
                                                  nn.Conv1d(past_hidden, hidden, 1)) for d in self.past)
        for block in self.blocks:
            nn.init.zeros_(block[2].weight)
            nn.init.zeros_(block[2].bias)
        self.mix = nn.Conv1d(hidden, hidden, 1)
        self.mu = nn.Conv1d(hidden, z_dim, 1)
        self.logvar = nn.Conv1d(hidden, z_dim, 1)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = ((frames - self.mean) / self.std).transpose(1, 2)
        h = F.relu(self.context(x))
        for d, block in zip(self.past, self.blocks):
            h = h[:, :, d:] + block(h)
        h = F.relu(self.mix(h))
        return h, self.mu(h).transpose(1, 2), self.logvar(h).transpose(1, 2).clamp(-8.0, 4.0)


class SymbolEncoder(nn.Module):
    def __init__(self, hidden: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(labels.SYMBOL_SIZE, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)

    def forward(self, symbols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(symbols)
        return self.mu(h), self.logvar(h).clamp(-8.0, 4.0)


class SymbolDecoder(nn.Module):
    def __init__(self, hidden: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, size) for name, size in HEADS})

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.net(z)
        return {name: head(h) for name, head in self.heads.items()}


class AudioDecoder(nn.Module):
    """z -> normalised log spectrum of one frame."""

    def __init__(self, hidden: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, features.N_BINS))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class CrossModalVAE(nn.Module):
    def __init__(self, cfg: TranscriptionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.audio_encoder = AudioEncoder(cfg.audio_hidden, cfg.z_dim, tuple(cfg.past), cfg.past_hidden,
                                          cfg.fast_bands)
        self.before, self.after = self.audio_encoder.before, self.audio_encoder.after
        self.audio_decoder = AudioDecoder(cfg.audio_hidden, cfg.z_dim)
        self.symbol_encoder = SymbolEncoder(cfg.symbol_hidden, cfg.z_dim)
        self.symbol_decoder = SymbolDecoder(cfg.symbol_hidden, cfg.z_dim)
        self.onset = nn.Sequential(nn.Conv1d(cfg.audio_hidden, cfg.onset_hidden, 1), nn.ReLU(),
                                   nn.Conv1d(cfg.onset_hidden, 1, 1))

    def transcribe(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Audio encoder -> symbol decoder (means, no sampling) + onset head: what the runtime calls."""
        h, mu, _ = self.audio_encoder(frames)
        out = {k: F.log_softmax(v, dim=-1) for k, v in self.symbol_decoder(mu).items()}
        out["onset"] = torch.sigmoid(self.onset(h)).squeeze(1)
        out["z"] = mu
        return out

    def synthesize(self, symbols: torch.Tensor) -> torch.Tensor:
        """Symbol encoder -> audio decoder: the log spectrum (un-normalised) of each symbol frame."""
        mu, _ = self.symbol_encoder(symbols)
        enc, n = self.audio_encoder, features.N_BINS
        return self.audio_decoder(mu) * enc.std[:n] + enc.mean[:n]


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | None = None,
                logvar_p: torch.Tensor | None = None) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians summed over the latent, per frame (p = N(0, I) by default)."""
    if mu_p is None:
        return 0.5 * (mu_q.pow(2) + logvar_q.exp() - 1.0 - logvar_q).sum(-1)
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0).sum(-1)


def sample(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def symbol_loss(logits: dict[str, torch.Tensor], target: dict[str, torch.Tensor], pitched: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the four heads per frame; dynamics and instrument only where a note sounds."""
    loss = F.cross_entropy(logits["pitch_class"].flatten(0, -2), target["pitch_class"].flatten(), reduction="none")
    loss = loss + F.cross_entropy(logits["octave"].flatten(0, -2), target["octave"].flatten(), reduction="none")
    mask = pitched.flatten().float()
    for name in ("dynamics", "instrument"):
        ce = F.cross_entropy(logits[name].flatten(0, -2), target[name].flatten(), reduction="none")
        loss = loss + 0.5 * ce * mask
    return loss.mean()


def losses(model: CrossModalVAE, frames: torch.Tensor, symbols: torch.Tensor, target: dict[str, torch.Tensor],
           onset: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every term of the objective for a batch of segments ([B, T(+context), ...])."""
    cfg = model.cfg
    enc = model.audio_encoder
    h, mu_a, lv_a = enc(frames)
    n = features.N_BINS   # the decoder reconstructs the spectrum (not the fast bands)
    centre = (frames[:, enc.before:frames.shape[1] - enc.after, :n] - enc.mean[:n]) / enc.std[:n]
    mu_s, lv_s = model.symbol_encoder(symbols)
    z_a, z_s = sample(mu_a, lv_a), sample(mu_s, lv_s)
    pitched = target["pitch_class"] != labels.NONE_PC
    out = {
        "audio_rec": F.mse_loss(model.audio_decoder(z_a), centre),
        "audio_kl": gaussian_kl(mu_a, lv_a).mean(),
        "symbol_rec": symbol_loss(model.symbol_decoder(z_s), target, pitched),
        "symbol_kl": gaussian_kl(mu_s, lv_s).mean(),
        "cross_kl": gaussian_kl(mu_a, lv_a, mu_s, lv_s).mean(),
        "transcribe": symbol_loss(model.symbol_decoder(z_a), target, pitched),
        "generate": F.mse_loss(model.audio_decoder(z_s), centre),
    }
    logit = model.onset(h).squeeze(1)
    weight = torch.full_like(logit, cfg.onset_pos_weight)
    out["onset"] = F.binary_cross_entropy_with_logits(logit, onset, pos_weight=weight[0, 0:1])
    out["total"] = (out["audio_rec"] + cfg.beta_audio * out["audio_kl"] + out["symbol_rec"]
                    + cfg.beta_symbol * out["symbol_kl"] + cfg.cross * out["cross_kl"]
                    + cfg.transfer * (out["transcribe"] + out["generate"]) + cfg.onset_weight * out["onset"])
    return out

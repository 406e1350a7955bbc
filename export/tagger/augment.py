"""CLMR's audio augmentations, cheap batched torch versions (waveform [B, S] float32 in, same shape out).

CLMR (Spijkervet & Burgoyne 2021) chains: random crop, polarity inversion (p 0.8),
additive noise (p 0.01), gain (p 0.3), high/low-pass filter (p 0.8), delay
(p 0.3), pitch shift (p 0.6) and reverb (p 0.3). Here: crop = a random shift
with zero fill; filter = a random one-pole-like spectral tilt / cut applied in
the FFT domain; pitch shift = linear-interpolation resampling by 2^(k/12),
|k| <= 5 (it also changes tempo, which contrastive pre-training does not use);
reverb is left to the renders' own pedalboard effects. Probabilities are CLMR's
except noise (0.3; 0.01 makes it a no-op at these batch counts).
"""
from __future__ import annotations

import torch
from torch.nn import functional as F


def _where(p: float, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def crop_shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 8000) -> torch.Tensor:
    """Shift each clip by up to ``max_shift`` samples either way, zero-filled (a random crop of the window)."""
    out = torch.zeros_like(x)
    S = x.shape[1]
    for i, s in enumerate(torch.randint(-max_shift, max_shift + 1, (len(x),), generator=g).tolist()):
        if s >= 0:
            out[i, s:] = x[i, :S - s]
        else:
            out[i, :S + s] = x[i, -s:]
    return out


def polarity(x: torch.Tensor, g: torch.Generator, p: float = 0.8) -> torch.Tensor:
    return torch.where(_where(p, len(x), g)[:, None], -x, x)


def noise(x: torch.Tensor, g: torch.Generator, p: float = 0.3, snr_db: tuple[float, float] = (20, 45)) -> torch.Tensor:
    rms = x.pow(2).mean(dim=1, keepdim=True).sqrt() + 1e-6
    snr = torch.empty(len(x), 1).uniform_(*snr_db, generator=g)
    n = torch.randn(x.shape, generator=g) * rms * 10 ** (-snr / 20)
    return torch.where(_where(p, len(x), g)[:, None], x + n, x)


def gain(x: torch.Tensor, g: torch.Generator, p: float = 0.3, db: tuple[float, float] = (-6, 0)) -> torch.Tensor:
    k = 10 ** (torch.empty(len(x), 1).uniform_(*db, generator=g) / 20)
    return torch.where(_where(p, len(x), g)[:, None], x * k, x)


def filt(x: torch.Tensor, g: torch.Generator, p: float = 0.8, sr: int = 16000) -> torch.Tensor:
    """Random low-pass (2.2..4 kHz) or high-pass (200..1200 Hz) with a 12 dB/octave-like slope, in the FFT domain."""
    X = torch.fft.rfft(x, dim=1)
    f = torch.linspace(1.0, sr / 2, X.shape[1])[None, :]
    n = len(x)
    low = torch.rand(n, generator=g) < 0.5
    fc = torch.where(low, torch.empty(n).uniform_(2200, 4000, generator=g),
                     torch.empty(n).uniform_(200, 1200, generator=g))[:, None]
    lp = 1.0 / (1.0 + (f / fc) ** 2)
    hp = 1.0 / (1.0 + (fc / f) ** 2)
    mask = torch.where(low[:, None], lp, hp)
    mask = torch.where(_where(p, n, g)[:, None], mask, torch.ones_like(mask))
    return torch.fft.irfft(X * mask, n=x.shape[1], dim=1)


def delay(x: torch.Tensor, g: torch.Generator, p: float = 0.3, sr: int = 16000) -> torch.Tensor:
    """Add a copy delayed 200..500 ms at half volume (CLMR's delay)."""
    out = x.clone()
    for i in torch.nonzero(_where(p, len(x), g)).flatten().tolist():
        d = int(torch.randint(int(0.2 * sr), int(0.5 * sr), (1,), generator=g))
        out[i, d:] += 0.5 * x[i, :-d]
    return out


def pitch_shift(x: torch.Tensor, g: torch.Generator, p: float = 0.6, semitones: int = 5) -> torch.Tensor:
    """Resample each chosen clip by 2^(k/12), k in [-semitones, semitones], cropped / zero-padded to length."""
    out = x.clone()
    S = x.shape[1]
    for i in torch.nonzero(_where(p, len(x), g)).flatten().tolist():
        k = int(torch.randint(-semitones, semitones + 1, (1,), generator=g))
        if k == 0:
            continue
        n = int(round(S / 2 ** (k / 12)))
        y = F.interpolate(x[i][None, None], size=n, mode="linear", align_corners=False)[0, 0]
        out[i] = y[:S] if n >= S else F.pad(y, (0, S - n))
    return out


def clmr(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One CLMR view of a batch."""
    for f in (crop_shift, polarity, noise, gain, filt, delay, pitch_shift):
        x = f(x, g)
    return x


def supervised(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Label-preserving augmentation for supervised training: shift, polarity, +-3 dB gain, noise."""
    x = crop_shift(x, g, max_shift=4000)
    x = polarity(x, g, 0.5)
    x = gain(x, g, p=1.0, db=(-3, 3))
    return noise(x, g, p=0.2, snr_db=(30, 50))

"""MusicVAE's named, frozen training configs (like Magenta's configs.py), read by export/families.py.

A shipped model is trained by ``cmt-bridge train <name>``; its manifest
records the config, the exact command and the data it saw.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bridge.errors import ConfigError


@dataclass(frozen=True)
class MusicVAEConfig:
    name: str
    doc: str
    model_name: str = "musicvae-mel2bar"  # folder under onnx_models/
    dataset: str = "folk"
    embed: int = 64
    enc_hidden: int = 256
    dec_hidden: int = 256
    dec_layers: int = 2
    z_dim: int = 64
    batch: int = 128
    lr: float = 1e-3
    lr_min: float = 1e-4
    steps: int = 12000
    warmup: int = 500
    beta_max: float = 0.2
    beta_steps: int = 5000
    free_bits: float = 32.0  # nats per melody below which KL is not penalised
    word_dropout: float = 0.3  # share of decoder inputs replaced by START: the decoder must use z
    transpose: tuple[int, int] = (-5, 6)  # augmentation range in semitones (inclusive)
    valid_every: int = 1000
    ckpt_every: int = 1000
    valid_windows: int = 2000  # held-out windows scored at each validation (free-running)
    seed: int = 1
    limit_train: int | None = None  # use only the first N training windows (tiny configs)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["transpose"] = list(self.transpose)
        return d


CONFIGS: dict[str, MusicVAEConfig] = {}


def register(cfg: MusicVAEConfig) -> MusicVAEConfig:
    if cfg.name in CONFIGS:
        raise ConfigError(f"config {cfg.name} registered twice")
    CONFIGS[cfg.name] = cfg
    return cfg


register(MusicVAEConfig(
    name="musicvae-mel2bar",
    doc="MusicVAE 2-bar melodies (BiGRU 256 encoder, 2x256 GRU decoder, z 64) on music21 folk tunes; shipped",
))
register(MusicVAEConfig(
    name="musicvae-tiny",
    doc="a tiny MusicVAE for tests and CI: trains in seconds, never shipped",
    model_name="musicvae-tiny", embed=16, enc_hidden=32, dec_hidden=32, dec_layers=1, z_dim=8, batch=32,
    steps=40, warmup=5, beta_steps=20, valid_every=20, ckpt_every=20, valid_windows=64, limit_train=2000,
))


def get(name: str) -> MusicVAEConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown config {name!r} (have: {', '.join(CONFIGS)})") from None

"""The 16-bar MusicVAE's named, frozen training configs (read by export/families.py).

``hier`` is the shipped model (the conductor decoder of hierdec-mel_16bar,
scaled down to train on 2 CPU cores in one sitting); ``flat`` is the baseline
the bench compares it with: the same encoder and a flat 256-step decoder,
trained for the same wall-clock time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bridge.errors import ConfigError


@dataclass(frozen=True)
class HierConfig:
    name: str
    doc: str
    model_name: str = "musicvae-mel16bar"  # folder under onnx_models/
    dataset: str = "folk16"
    decoder: str = "hier"             # "hier" (conductor + per-bar decoder) or "flat" (the baseline)
    embed: int = 64
    encoder: str = "seq"              # "bar": a GRU per bar, then a BiGRU over the 16 bar summaries; "seq" (the first runs): one BiGRU over 256 steps
    bar_enc_hidden: int = 128         # the per-bar encoder GRU ("bar" only), each direction
    aux: float = 0.0                  # "bar" only: weight of the bar-code path (see model.py), 0 = off
    code_weight: float = 4.0          # weight of the conductor-matches-bar-codes term inside the aux loss
    enc_hidden: int = 128
    enc_pool: str = "last"            # how the encoder GRU over bars becomes mu, sigma: "last" (its two final states: the first and last bars are nearest z) or "bars" (its output at every bar, each mapped to pool_dim, concatenated: every bar one step from z)
    pool_dim: int = 32                # "bars" only: the size of each bar's share of the pooled summary
    conductor: int = 256
    conductor_input: str = "zeros"    # the conductor GRU's input per bar: "zeros" (the paper: z only through its first state) or "z" (z and the bar's position at every step: z reaches every bar directly)
    bar_embed: int = 128              # the conductor's output per bar
    dec_hidden: int = 256
    dec_layers: int = 1
    z_dim: int = 256
    batch: int = 64
    lr: float = 1e-3
    lr_min: float = 1e-4
    steps: int = 2500
    minutes: float | None = 90.0      # stop after this many minutes of training (a same-time baseline)
    warmup: int = 200
    beta_max: float = 0.2
    beta_steps: int = 2000
    free_bits: float = 160.0          # nats per 16 bars below which KL is not penalised
    free_bits_late: float | None = None  # a second stage: free bits raised to this from step ``late_from`` on
    late_from: int = 0
    word_dropout: float = 0.3         # share of decoder inputs replaced by START: the decoder must use z
    transpose: tuple[int, int] = (-5, 6)
    valid_every: int = 500
    ckpt_every: int = 250
    valid_windows: int = 256          # held-out windows scored at each validation (free-running)
    seed: int = 1
    limit_train: int | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["transpose"] = list(self.transpose)
        return d

    def replace(self, **kw) -> "HierConfig":
        d = {**asdict(self), **kw}
        d["transpose"] = tuple(d["transpose"])
        return HierConfig(**d)


CONFIGS: dict[str, HierConfig] = {}


def register(cfg: HierConfig) -> HierConfig:
    if cfg.name in CONFIGS:
        raise ConfigError(f"config {cfg.name} registered twice")
    CONFIGS[cfg.name] = cfg
    return cfg


#: what the shipped model and its baseline share (the second design: a per-bar encoder, 5,000 steps)
_SHARED = dict(encoder="bar", bar_enc_hidden=128, enc_hidden=128, z_dim=256, steps=5000, minutes=95.0,
               free_bits=256.0, word_dropout=0.2, valid_every=250)

register(HierConfig(
    name="musicvae-mel16bar",
    doc="MusicVAE 16-bar melodies, hierarchical: per-bar BiGRU encoder (2x128 -> bar codes of 128) + "
        "BiGRU 2x128 over the 16 codes, z 256, conductor GRU 256 reading z and the bar position at every "
        "step -> 16 bar embeddings of 128, GRU 192 bar decoder reset every bar, trained with the bar-code "
        "path (aux 1.0) and 512 free bits on music21 folk tunes; 5,000 steps of 64, at most 95 minutes on one "
        "core; the third model (musicvae-mel16bar@4454, shipped before musicvae-mel16bar-pool)",
    dec_hidden=192, aux=1.0, code_weight=4.0, conductor_input="z", **{**_SHARED, "free_bits": 512.0},
))
register(HierConfig(
    name="musicvae-mel16bar-pool",
    doc="musicvae-mel16bar with the encoder's outputs at all 16 bars (not its two final states) read into "
        "mu and sigma: the third model reconstructed bars 1 and 16 far better than the middle ones "
        "(non-hold 0.59 and 0.34 against 0.25-0.33), the mark of a summary that keeps the ends; two sittings "
        "on one core: 4,718 steps in 85 minutes (steps 5,000), then --resume to 7,000 steps (at most 130 "
        "minutes in all, the flat baseline's budget); shipped",
    dec_hidden=192, aux=1.0, code_weight=4.0, conductor_input="z", enc_pool="bars",
    **{**_SHARED, "free_bits": 512.0, "steps": 7000, "minutes": 130.0},
))
register(HierConfig(
    name="musicvae-mel16bar-fb1024",
    doc="experiment, not shipped: musicvae-mel16bar resumed from its step 3,848 with free bits 1,024 from there "
        "on (copy runs/musicvae-mel16bar to the run folder and --resume); the KL rose from 259 to 709 nats in "
        "400 steps while held-out accuracy moved 0.691 -> 0.693 (docs/midime16.md)",
    dec_hidden=192, aux=1.0, code_weight=4.0,
    **{**_SHARED, "steps": 9000, "minutes": 215.0, "free_bits_late": 1024.0, "late_from": 3848},
))
register(HierConfig(
    name="musicvae-mel16bar-flat",
    doc="the flat baseline for the 16-bar models: the same per-bar encoder, one GRU 256 decoder over all "
        "256 steps, trained for the shipped model's time: 95 minutes (3,933 steps), then --resume to 130 "
        "minutes in all; bench only, never shipped",
    model_name="musicvae-mel16bar-flat", decoder="flat", dec_hidden=256,
    **{**_SHARED, "steps": 9000, "minutes": 130.0},
))
register(HierConfig(
    name="musicvae16-tiny",
    doc="a tiny 16-bar MusicVAE for tests and CI: trains in seconds, never shipped",
    model_name="musicvae16-tiny", embed=16, enc_hidden=24, conductor=24, bar_embed=16, dec_hidden=24,
    dec_layers=1, z_dim=8, batch=8, steps=20, warmup=5, beta_steps=10, valid_every=10, ckpt_every=10,
    valid_windows=16, limit_train=200, free_bits=4.0, minutes=None, encoder="bar", bar_enc_hidden=16, aux=1.0,
    conductor_input="z", enc_pool="bars", pool_dim=4,
))


def get(name: str) -> HierConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"unknown config {name!r} (have: {', '.join(CONFIGS)})") from None

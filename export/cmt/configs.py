"""CMT's named, frozen training configs, read by export/families.py (no torch here)."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class CMTTrainConfig:
    name: str = "cmt"
    doc: str = ""
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    d_ff: int = 1024
    dropout: float = 0.1
    window: int = 512
    batch: int = 8
    steps: int = 20000
    lr: float = 5e-4
    lr_min: float = 2e-5
    warmup: int = 500
    weight_decay: float = 0.01
    transpose: tuple[int, int] = (-5, 6)
    valid_every: int = 500
    valid_windows: int = 64
    ckpt_every: int = 500
    seed: int = 0

    def model_config(self):
        """The model's own config (export/cmt/model.py; imports torch)."""
        from .model import CMTConfig

        return CMTConfig(self.d_model, self.n_layers, self.n_heads, self.d_ff, self.dropout)

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS = {
    "cmt": CMTTrainConfig(
        name="cmt", d_model=192, n_layers=3, n_heads=6, d_ff=768, window=256, batch=16, steps=5500, lr=1e-3,
        warmup=300, valid_every=500, ckpt_every=250,
        doc="CMT, linear attention d=192 x 3 layers (1.6 M parameters), 16 x 256-token windows; shipped"),
    "cmt-large": CMTTrainConfig(
        name="cmt-large", doc="CMT as first sized (d=256 x 4, 3.5 M parameters, 8 x 512 tokens): ~4x slower per "
                              "step on 2 cores, 13.5 MB; not shipped"),
    "cmt-tiny": CMTTrainConfig(name="cmt-tiny", d_model=64, n_layers=2, n_heads=4, d_ff=128, window=64, batch=4,
                               steps=20, warmup=2, valid_every=10, valid_windows=4, ckpt_every=10,
                               doc="a tiny CMT for tests and CI: trains in seconds, never shipped"),
}

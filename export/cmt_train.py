"""Training loop for the CMT linear-attention transformer on ``data/cmt`` (export/cmt_data.py).

Windows of ``window`` + 1 tokens start at a random bar token of a random piece
(pieces drawn in proportion to their length), shorter tails padded with 0; each
training window is transposed by a random -5..+6 semitones (drums stay). The
loss is the mean of the per-field next-token cross-entropies
(:meth:`export.cmt_model.CMTModel.loss`); validation reports them per field on
fixed held-out windows (no transposition). Checkpoints ``ckpt-*.pt`` (the last
3 kept) hold model, optimizer, RNG and history, so ``resume=True`` continues
exactly. Configs live here (:data:`CONFIGS`) until they join export/configs.py.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from plugins.cmt import tokens as T

from .cmt_data import load_split, transpose
from .cmt_model import CMTConfig, CMTModel
from .progress import Progress

log = logging.getLogger(__name__)


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

    def model_config(self) -> CMTConfig:
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


def _lr(cfg: CMTTrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))


def windows(pieces: list[np.ndarray], n: int, length: int, rng: np.random.Generator,
            shift: tuple[int, int] | None = None) -> np.ndarray:
    """``n`` windows int64 [n, length, F] starting at bar tokens, zero-padded, optionally transposed."""
    sizes = np.array([len(p) for p in pieces], np.float64)
    out = np.zeros((n, length, len(T.FIELDS)), np.int64)
    for i, k in enumerate(rng.choice(len(pieces), size=n, p=sizes / sizes.sum())):
        p = pieces[k]
        bars = np.flatnonzero((p[:, T.F["type"]] == T.METRICAL) & (p[:, T.F["beat"]] == T.BAR_LINE))
        start = int(rng.choice(bars[:-1] if len(bars) > 1 else bars))
        w = p[start:start + length]
        if shift is not None:
            w = transpose(w, int(rng.integers(shift[0], shift[1] + 1)))
        out[i, :len(w)] = w
    return out


@torch.no_grad()
def evaluate(model: CMTModel, batch: np.ndarray) -> dict:
    was = model.training
    model.eval()
    losses = []
    for i in range(0, len(batch), 8):
        _, per = model.loss(torch.from_numpy(batch[i:i + 8]))
        losses.append(per)
    model.train(was)
    per_field = np.mean(np.array(losses), axis=0)
    return {"loss": float(per_field.mean()), **{f"loss_{f}": round(float(v), 5) for f, v in zip(T.FIELDS, per_field)}}


def latest_checkpoint(run_dir: Path) -> Path | None:
    ck = sorted(run_dir.glob("ckpt-*.pt"))
    return ck[-1] if ck else None


def _save(path: Path, model, opt, step: int, rng, cfg: CMTTrainConfig, history: list) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "config": cfg.to_dict(), "history": history}, tmp)
    os.replace(tmp, path)


def load_model(checkpoint: Path) -> tuple[CMTModel, CMTTrainConfig]:
    state = torch.load(checkpoint, weights_only=False)
    c = dict(state["config"])
    c["transpose"] = tuple(c["transpose"])
    cfg = CMTTrainConfig(**c)
    model = CMTModel(cfg.model_config())
    model.load_state_dict(state["model"])
    return model.eval(), cfg


def train(cfg: CMTTrainConfig, run_dir: Path, data: Path | None = None, resume: bool = False,
          steps: int | None = None, threads: int | None = None, until: int | None = None) -> dict:
    """Train ``cfg`` into ``run_dir`` on the prepared data under ``data`` (default data/cmt).

    ``steps`` changes the run's length (and so its learning-rate schedule); ``until``
    stops early at that step (a checkpoint is written) for a later ``resume``.
    """
    if threads:
        torch.set_num_threads(threads)
    if steps:
        cfg = CMTTrainConfig(**{**cfg.to_dict(), "steps": steps})
    run_dir.mkdir(parents=True, exist_ok=True)
    train_p, _ = load_split("train", data)
    valid_p, _ = load_split("valid", data)
    if not valid_p:
        valid_p = train_p
    valid = windows(valid_p, cfg.valid_windows, cfg.window + 1, np.random.default_rng(12345))
    torch.manual_seed(cfg.seed)
    model = CMTModel(cfg.model_config())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    step, history = 0, []
    ck = latest_checkpoint(run_dir) if resume else None
    if ck:
        state = torch.load(ck, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, history = state["step"], state["history"]
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed %s at step %d", ck, step)
    if step == 0:
        history.append({"kind": "valid", "step": 0, **evaluate(model, valid)})
    model.train()
    stop = min(cfg.steps, until) if until else cfg.steps
    bar = Progress(cfg.steps, f"train {cfg.name}", done=step)
    running = None
    t0 = time.time()
    while step < stop:
        batch = torch.from_numpy(windows(train_p, cfg.batch, cfg.window + 1, rng, cfg.transpose))
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss, _ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running = float(loss) if running is None else running * 0.98 + float(loss) * 0.02
        bar.update(1, f"loss {running:.3f}")
        if step % 50 == 0 or step == cfg.steps:
            history.append({"kind": "train", "step": step, "loss": round(running, 5), "lr": _lr(cfg, step),
                            "seconds": round(time.time() - t0, 1)})
        if step % cfg.valid_every == 0 or step == cfg.steps:
            v = evaluate(model, valid)
            history.append({"kind": "valid", "step": step, **v})
            log.info("step %d valid loss %.4f", step, v["loss"])
        if step % cfg.ckpt_every == 0 or step in (cfg.steps, stop):
            _save(run_dir / f"ckpt-{step:07d}.pt", model, opt, step, rng, cfg, history)
            for old in sorted(run_dir.glob("ckpt-*.pt"))[:-3]:
                old.unlink()
            (run_dir / "history.json").write_text(json.dumps(history))
    bar.close()
    return {"step": step, "history": history}

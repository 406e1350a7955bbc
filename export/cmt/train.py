"""Training loop for the CMT linear-attention transformer on ``data/cmt`` (export/cmt/data.py).

Windows of ``window`` + 1 tokens start at a random bar token of a random piece
(pieces drawn in proportion to their length), shorter tails padded with 0; each
training window is transposed by a random -5..+6 semitones (drums stay). The
loss is the mean of the per-field next-token cross-entropies
(:meth:`export.cmt.model.CMTModel.loss`); validation reports them per field on
fixed held-out windows (no transposition). Checkpoints ``ckpt-*.pt`` (the last
3 kept) hold model, optimizer, RNG and history, so ``resume=True`` continues
exactly (export/checkpoints.py). Configs: export/cmt/configs.py.
"""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch

from plugins.cmt import tokens as T

from .. import checkpoints
from ..checkpoints import latest_checkpoint
from bridge.progress import Progress
from .configs import CMTTrainConfig
from .data import load_split, transpose
from .model import CMTModel

log = logging.getLogger(__name__)


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


def load_model(checkpoint: Path) -> tuple[CMTModel, CMTTrainConfig]:
    state = checkpoints.load(checkpoint)
    c = dict(state["config"])
    c["transpose"] = tuple(c["transpose"])
    cfg = CMTTrainConfig(**c)
    model = CMTModel(cfg.model_config())
    model.load_state_dict(state["model"])
    return model.eval(), cfg


def train(cfg: CMTTrainConfig, run_dir: Path, data: Path | None = None, resume: bool = False,
          steps: int | None = None, threads: int | None = None, until: int | None = None,
          seed: int | None = None, command: str = "") -> dict:
    """Train ``cfg`` into ``run_dir`` on the prepared data under ``data`` (default data/cmt).

    ``steps`` changes the run's length (and so its learning-rate schedule); ``until``
    stops early at that step (a checkpoint is written) for a later ``resume``;
    ``command`` is the command line recorded in the checkpoints (for the manifest).
    """
    if threads:
        torch.set_num_threads(threads)
    if steps:
        cfg = CMTTrainConfig(**{**cfg.to_dict(), "steps": steps})
    if seed is not None:
        cfg = CMTTrainConfig(**{**cfg.to_dict(), "seed": seed})
    command = command or f"cmt-bridge train {cfg.name} --run-dir {run_dir}"
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
        step, history = checkpoints.restore(ck, model, opt, rng)
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
            checkpoints.save(checkpoints.numbered(run_dir, step),
                             {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                              "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                              "config": cfg.to_dict(), "history": history, "command": command})
            (run_dir / "history.json").write_text(json.dumps(history))
    bar.close()
    return {"step": step, "history": history}

"""Train the tagger: supervised from scratch, or CLMR (NT-Xent pre-training, then linear / MLP heads).

Runs are wall-time capped (``TaggerConfig.minutes``; the supervised baseline
and CLMR pre-training get the same budget), with a cosine learning rate over
that budget, checkpoints every ``eval_every`` steps and at the end
(``run_dir/ckpt.pt``; ``resume=True`` continues, counting the time already
spent), ``log.jsonl`` and, for supervised runs, the validation macro ROC-AUC.
A CLMR run then evaluates the frozen encoder as CLMR does (:mod:`.probe`).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import checkpoints
from . import augment, data
from .configs import TaggerConfig
from .model import Encoder, NetConfig, Projection, Tagger

log = logging.getLogger(__name__)


def net_config(cfg: TaggerConfig) -> NetConfig:
    return NetConfig(c2d=tuple(cfg.c2d), c1d=cfg.c1d)


def to_float(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """int16 clips -> float32 in [-1, 1)."""
    a = torch.as_tensor(audio)
    return a.float() / 32768.0 if a.dtype == torch.int16 else a.float()


@torch.no_grad()
def predict(model: nn.Module, audio: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(logits [n, T], embeddings [n, D]) of a Tagger in eval mode; restores the training flag."""
    was = model.training
    model.eval()
    outs, embs = [], []
    for i in range(0, len(audio), batch):
        lo, em = model(to_float(audio[i:i + batch]))
        outs.append(lo.numpy())
        embs.append(em.numpy())
    model.train(was)
    return np.concatenate(outs), np.concatenate(embs)


@torch.no_grad()
def embed(encoder: nn.Module, audio: np.ndarray, batch: int = 64) -> np.ndarray:
    was = encoder.training
    encoder.eval()
    out = np.concatenate([encoder(to_float(audio[i:i + batch])).numpy() for i in range(0, len(audio), batch)])
    encoder.train(was)
    return out


def macro_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(labels[:, j], scores[:, j]) for j in range(labels.shape[1]) if 0 < labels[:, j].sum() < len(labels)]
    return float(np.mean(aucs)) if aucs else float("nan")


def _lr(cfg: TaggerConfig, step: int, frac: float) -> float:
    warm = min(1.0, (step + 1) / 100)
    return cfg.lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def train(cfg: TaggerConfig, run_dir: Path, resume: bool = False, steps: int | None = None,
          threads: int | None = None, minutes: float | None = None, command: str | None = None,
          data_root: Path | None = None) -> Path:
    """Train ``cfg`` into ``run_dir``; returns the checkpoint path (ckpt.pt)."""
    torch.set_num_threads(threads or 1)
    torch.manual_seed(cfg.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    root = data_root or (Path(cfg.data) if cfg.data else None)
    tr = data.load("train", root=root)
    va = data.load("valid", root=root)
    audio = torch.from_numpy(tr["audio"])
    labels = torch.from_numpy(tr["labels"]).float()
    ncfg = net_config(cfg)
    clmr = cfg.mode == "clmr"
    if clmr:
        model: nn.Module = nn.ModuleDict({"encoder": Encoder(ncfg), "proj": Projection(2 * ncfg.c1d)})
    else:
        model = Tagger(ncfg, head=cfg.head)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ckpt = run_dir / "ckpt.pt"
    step, spent, history = 0, 0.0, []
    if resume and ckpt.exists():
        step, history = checkpoints.restore(ckpt, model, opt)
        spent = float(checkpoints.load(ckpt)["seconds"])
    max_steps = steps or cfg.steps
    budget = 60.0 * (minutes or cfg.minutes)
    g = torch.Generator().manual_seed(cfg.seed * 1000 + step)
    t0 = time.time() - spent
    bce = nn.BCEWithLogitsLoss()
    losses: list[float] = []
    model.train()

    def save(final: bool = False) -> None:
        state = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "seconds": time.time() - t0,
                 "history": history, "config": asdict(cfg), "net": asdict(ncfg), "final": final,
                 "command": command or f"cmt-bridge train {cfg.name} --run-dir {run_dir}"}
        checkpoints.save(ckpt, state)

    while step < max_steps and time.time() - t0 < budget:
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step, (time.time() - t0) / budget)
        idx = torch.randint(len(audio), (cfg.batch,), generator=g)
        x = to_float(audio[idx])
        if clmr:
            z1 = model["proj"](model["encoder"](augment.clmr(x, g)))
            z2 = model["proj"](model["encoder"](augment.clmr(x, g)))
            loss = _nt_xent(z1, z2, cfg.temperature)
        else:
            logits, _ = model(augment.supervised(x, g))
            loss = bce(logits, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        step += 1
        if step % cfg.eval_every == 0:
            row = {"step": step, "seconds": round(time.time() - t0, 1), "loss": float(np.mean(losses))}
            if not clmr:
                row["valid_macro_auc"] = macro_auc(va["labels"], predict(model, va["audio"])[0])
            history.append(row)
            losses = []
            log.info("%s", row)
            with open(run_dir / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            save()
    row = {"step": step, "seconds": round(time.time() - t0, 1), "loss": float(np.mean(losses)) if losses else None}
    if not clmr:
        row["valid_macro_auc"] = macro_auc(va["labels"], predict(model, va["audio"])[0])
    history.append(row)
    log.info("done: %s", row)
    save(final=True)
    if clmr:
        from .probe import linear_evaluation

        linear_evaluation(run_dir, data_root=root)
    return ckpt


def _nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    from .model import nt_xent

    return nt_xent(z1, z2, temperature)


def load_tagger(path: Path) -> tuple[Tagger, dict]:
    """A trained Tagger (eval mode) from a supervised ckpt.pt or a CLMR probe's linear.pt / mlp.pt."""
    st = checkpoints.load(path)
    ncfg = NetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in st["net"].items()})
    model = Tagger(ncfg, head=st.get("head", st["config"]["head"]))
    model.load_state_dict(st["model"])
    return model.eval(), st

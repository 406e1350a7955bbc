"""The training loop: progress, periodic free-running validation, checkpoints, --resume, loss.png, DDP.

Run under ``torchrun`` the same code trains data-parallel (gloo on CPU, NCCL on
GPU): every rank draws the same *global* batch from one seeded generator and
keeps its slice, so N ranks compute exactly what one process computes on the
whole batch (up to float rounding), and ranks stay in sync by construction.
"""
from __future__ import annotations

import json
import logging
import math
import os
import shlex
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from plugins.midime.melody import HOLD, NUM_CLASSES, START

from .. import checkpoints
from ..checkpoints import latest_checkpoint
from bridge.errors import BridgeError
from bridge.progress import Progress
from .configs import MusicVAEConfig
from .folk import load_split
from .model import MusicVAE, decoder_inputs

log = logging.getLogger(__name__)


def _dist() -> tuple[int, int]:
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _lr(cfg: MusicVAEConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))


def _beta(cfg: MusicVAEConfig, step: int) -> float:
    return cfg.beta_max * min(1.0, step / max(1, cfg.beta_steps))


def _free_bits(cfg, step: int) -> float:
    """The free-bits budget at ``step``: ``free_bits``, raised to ``free_bits_late`` from ``late_from`` on (a
    second stage resumed from the first: the 16-bar model's z opened wider once the bar-code path has trained)."""
    late = getattr(cfg, "free_bits_late", None)
    if late is not None and step >= getattr(cfg, "late_from", 0):
        return late
    return cfg.free_bits


def make_batch(cfg: MusicVAEConfig, data: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """A global batch: windows (transposed), word-dropout mask and reparameterisation noise."""
    idx = rng.integers(0, len(data), cfg.batch)
    x = data[idx].copy()
    shifts = rng.integers(cfg.transpose[0], cfg.transpose[1] + 1, cfg.batch)
    on = x >= 2
    for i, s in enumerate(shifts):
        row = x[i, on[i]] + s
        if len(row) and row.min() >= 2 and row.max() < NUM_CLASSES:
            x[i, on[i]] = row
    drop = rng.random((cfg.batch, x.shape[1])) < cfg.word_dropout
    drop[:, 0] = False
    eps = rng.standard_normal((cfg.batch, cfg.z_dim)).astype(np.float32)
    return {"x": torch.from_numpy(x), "drop": torch.from_numpy(drop), "eps": torch.from_numpy(eps)}


def loss_fn(net, batch: dict, beta: float, free_bits: float) -> tuple[torch.Tensor, dict]:
    """``net`` is the model or its DDP wrapper (whose forward all-reduces the gradients)."""
    x = batch["x"]
    inp = decoder_inputs(x).masked_fill(batch["drop"], START)
    logits, mu, sigma, *extra = net(x, inp, batch["eps"])
    rec = F.cross_entropy(logits.reshape(-1, NUM_CLASSES), x.reshape(-1), reduction="none").view(x.shape).sum(1)
    kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1 - 2 * torch.log(sigma)).sum(1)
    per_window = rec + beta * torch.clamp(kl - free_bits, min=0)
    aux = extra[0] if extra else {}   # a model's own extra terms (the 16-bar bar-code path): per window
    if "loss" in aux:
        per_window = per_window + aux["loss"]
    loss = per_window.mean()
    with torch.no_grad():
        acc = (logits.argmax(-1) == x).float().mean().item()
    stats = {k: float(v.detach().mean()) for k, v in aux.items() if k != "loss"}
    return loss, {"loss": loss.item(), "rec": rec.mean().item(), "kl": kl.mean().item(), "tf_acc": acc, **stats}


@torch.no_grad()
def evaluate(model: MusicVAE, windows: np.ndarray) -> dict:
    """Free-running argmax reconstruction from the posterior mean, per 16th step."""
    model.eval()
    x = torch.from_numpy(windows)
    hits, nonhold_hits, nonhold = 0, 0, 0
    rec = 0.0
    for i in range(0, len(x), 512):
        xb = x[i:i + 512]
        mu, _ = model.encode(xb)
        y = model.decode_greedy(mu, xb.shape[1])
        ok = y == xb
        hits += int(ok.sum())
        m = xb != HOLD
        nonhold_hits += int((ok & m).sum())
        nonhold += int(m.sum())
        logits = model.decode_teacher(mu, decoder_inputs(xb))
        rec += float(F.cross_entropy(logits.reshape(-1, NUM_CLASSES), xb.reshape(-1), reduction="sum"))
    model.train()
    n = x.numel()
    return {"acc": hits / n, "nonhold_acc": nonhold_hits / max(1, nonhold),
            "all_hold_acc": float((windows == HOLD).mean()), "rec_nats_per_step": rec / n}


def plot_history(history: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = [h for h in history if h["kind"] == "train"]
    va = [h for h in history if h["kind"] == "valid"]
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    if tr:
        ax[0].plot([h["step"] for h in tr], [h["rec"] for h in tr], label="train reconstruction (nats / 2 bars)")
        ax[0].plot([h["step"] for h in tr], [h["kl"] for h in tr], label="train KL (nats)")
    if va:
        ax[0].plot([h["step"] for h in va], [h["rec_nats_per_step"] * 32 for h in va], "o-", label="valid reconstruction")
        ax[1].plot([h["step"] for h in va], [h["acc"] for h in va], "o-", label="valid free-running acc")
        ax[1].plot([h["step"] for h in va], [h["nonhold_acc"] for h in va], "o-", label="valid non-hold acc")
        ax[1].axhline(va[-1]["all_hold_acc"], ls="--", c="grey", label="all-hold baseline")
    for a in ax:
        a.set_xlabel("step")
        a.legend()
        a.grid(alpha=0.3)
    ax[0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


#: what fine-tuning changes in a config (``--init``): a gentler learning rate, the KL weight at once
FINE_TUNE = {"lr": 3e-4, "lr_min": 3e-5, "warmup": 50, "beta_steps": 1, "steps": 2000, "valid_every": 250,
             "ckpt_every": 250}


def fine_tune_config(cfg: MusicVAEConfig, init: Path, data: Path | None) -> tuple[MusicVAEConfig, "MusicVAE"]:
    """The shipped model folder ``init`` as a torch model, and its config with :data:`FINE_TUNE` applied."""
    from .weights import model_from_onnx

    model, _ = model_from_onnx(init, check=False)
    d = {**model.cfg.to_dict(), **FINE_TUNE, "name": cfg.name, "transpose": model.cfg.transpose,
         "extra": {**model.cfg.extra, "init": str(init)}}
    if data is not None:
        d["model_name"] = f"{model.cfg.model_name}-{Path(data).name}"   # never the shipped folder's name
    return type(cfg)(**d), model


def train(cfg: MusicVAEConfig, run_dir: Path, resume: bool = False, steps: int | None = None,
          seed: int | None = None, threads: int | None = None, command: str | None = None,
          data: Path | None = None, init: Path | None = None,
          build: Callable[[MusicVAEConfig], torch.nn.Module] = MusicVAE) -> dict:
    """Train ``cfg`` into ``run_dir``; ``command`` is the command line recorded for the manifest.

    ``data``: a prepared folder (``cmt-bridge data prepare midi DIR --out data/mine``) instead of the config's
    dataset; ``init``: a model folder (``onnx_models/musicvae-mel2bar``) to start from: fine-tuning, with
    :data:`FINE_TUNE`'s learning rate and steps unless ``steps`` says otherwise. ``build`` makes the model
    from the config (the 16-bar family passes its own). A config with ``minutes`` stops after that much
    training time (a baseline trained for the same time), checkpointing where it stops.
    """
    rank, world = _dist()
    start_model = None
    if init is not None:
        cfg, start_model = fine_tune_config(cfg, Path(init), data)
    if data is not None:
        cfg = type(cfg)(**{**cfg.to_dict(), "dataset": str(data), "transpose": cfg.transpose})
    if threads:
        torch.set_num_threads(threads)
    if steps:
        cfg = type(cfg)(**{**cfg.to_dict(), "steps": steps, "transpose": cfg.transpose})
    if seed is not None:
        cfg = type(cfg)(**{**cfg.to_dict(), "seed": seed, "transpose": cfg.transpose})
    if cfg.batch % world:
        raise ValueError(f"batch {cfg.batch} is not divisible by {world} ranks")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not command:
        command = f"cmt-bridge train {cfg.name} --run-dir {shlex.quote(str(run_dir))}" + (f" --steps {steps}" if steps else "")
    root = Path(data) if data is not None else None
    train_w, _ = load_split("train", root, dataset=cfg.dataset)
    if cfg.limit_train:
        train_w = train_w[:cfg.limit_train]
    if not len(train_w):
        raise BridgeError(f"{root or cfg.dataset}: no training windows")
    valid_w, _ = load_split("valid", root, dataset=cfg.dataset)
    if not len(valid_w):   # a small folder may send no file to valid: score on (seen) training windows
        log.warning("%s has no validation windows: validating on training windows", root or cfg.dataset)
        valid_w = train_w
    valid_w = valid_w[np.random.default_rng(0).permutation(len(valid_w))[:cfg.valid_windows]]
    torch.manual_seed(cfg.seed)
    model = build(cfg)
    if start_model is not None:
        model.load_state_dict(start_model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    step, history = 0, []
    ck = latest_checkpoint(run_dir) if resume else None
    if ck:
        step, history = checkpoints.restore(ck, model, opt, rng)
    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model)
    per = cfg.batch // world
    bar = Progress(cfg.steps, f"train {cfg.name}", done=step) if rank == 0 else None
    running: dict[str, float] = {}
    t0 = time.time()
    trained = next((h["seconds"] for h in reversed(history) if "seconds" in h), 0.0)  # before a resume
    budget = getattr(cfg, "minutes", None)
    while step < cfg.steps:
        batch = make_batch(cfg, train_w, rng)
        local = {k: v[rank * per:(rank + 1) * per] for k, v in batch.items()}
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss, stats = loss_fn(ddp, local, _beta(cfg, step), _free_bits(cfg, step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        for k, v in stats.items():
            running[k] = running.get(k, v) * 0.98 + v * 0.02
        if bar:
            bar.update(1, f"rec {running['rec']:.2f} kl {running['kl']:.1f} tf_acc {running['tf_acc']:.3f}")
        out_of_time = budget is not None and trained + time.time() - t0 >= budget * 60
        last = step == cfg.steps or out_of_time
        if rank == 0 and (step % 50 == 0 or last):
            history.append({"kind": "train", "step": step, **{k: round(v, 5) for k, v in running.items()},
                            "lr": _lr(cfg, step), "seconds": round(trained + time.time() - t0, 1)})
        if rank == 0 and len(valid_w) and (step % cfg.valid_every == 0 or last):
            v = evaluate(model, valid_w)
            history.append({"kind": "valid", "step": step, **v})
            log.info("\nstep %d valid: acc %.4f non-hold %.4f (all-hold %.4f) rec %.4f nats/step", step,
                     v["acc"], v["nonhold_acc"], v["all_hold_acc"], v["rec_nats_per_step"])
        if rank == 0 and (step % cfg.ckpt_every == 0 or last):
            checkpoints.save(checkpoints.numbered(run_dir, step),
                             {"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                              "rng": rng.bit_generator.state, "config": cfg.to_dict(), "history": history,
                              "command": command})
            plot_history(history, run_dir / "loss.png")
            (run_dir / "history.json").write_text(json.dumps(history))
        if out_of_time:
            log.info("\n%s: stopped at step %d after its %.0f minutes", cfg.name, step, budget)
            break
    if bar:
        bar.close()
    return {"step": step, "history": history}

"""Checkpoints of a training run: atomic save, the newest one, resume.

Every training loop saves and resumes through here, so ``--resume`` means the
same thing for every family: model, optimizer, step and history come back, and
the data RNG too when the checkpoint holds one (``rng``: a numpy
``bit_generator.state``; ``torch_rng``: torch's CPU RNG). A run folder holds
either numbered checkpoints ``ckpt-0001000.pt`` (the newest ``keep`` are kept)
or one file a family names (transcription: ``model.pt``).
"""
from __future__ import annotations

import json
import logging
import math
import os
import pickle
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger(__name__)

PATTERN = "ckpt-*.pt"
KEEP = 3


def numbered(run_dir: Path, step: int) -> Path:
    """``run_dir/ckpt-<step, 7 digits>.pt``: the name the numbered checkpoints sort by."""
    return Path(run_dir) / f"ckpt-{step:07d}.pt"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest numbered checkpoint in ``run_dir``, or None."""
    ck = sorted(Path(run_dir).glob(PATTERN))
    return ck[-1] if ck else None


def save(path: Path, state: dict, keep: int | None = KEEP) -> Path:
    """Write ``state`` to ``path`` atomically (a crash leaves the previous file); prune old numbered ones."""
    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    os.replace(tmp, path)
    if keep and path.match(PATTERN):
        for old in sorted(path.parent.glob(PATTERN))[:-keep]:
            old.unlink()
    return path


def load(path: Path, weights_only: bool = False) -> dict:
    """A checkpoint's state dict, on the CPU."""
    import torch

    return torch.load(Path(path), weights_only=weights_only, map_location="cpu")


def stored_config(path: Path) -> dict:
    """The training config a checkpoint was written with (a dict; stored as a dict or as JSON text)."""
    from bridge.errors import BridgeError

    path = Path(path)
    state = read_checkpoint(path)
    try:
        cfg = state.get("config", {}) if isinstance(state, dict) else None
        return json.loads(cfg) if isinstance(cfg, str) else dict(cfg)
    except (ValueError, TypeError) as e:
        raise BridgeError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {e})") from None


def read_checkpoint(path: Path, weights_only: bool = False) -> Any:
    """:func:`load`, with a missing or unreadable file as one line (BridgeError)."""
    from bridge.errors import BridgeError

    if not path.is_file():
        raise BridgeError(f"{path}: no such checkpoint")
    try:
        return load(path, weights_only)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError) as e:
        raise BridgeError(f"{path}: not a readable training checkpoint ({type(e).__name__}: {e})") from None


def restore(path: Path, model: Any, opt: Any, rng: Any = None, weights_only: bool = False) -> tuple[int, list]:
    """Load ``path`` into ``model``, ``opt`` (and ``rng``, torch's RNG when stored); -> (step, history)."""
    import torch

    state = load(path, weights_only)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"] if "opt" in state else state["optimizer"])
    if rng is not None and "rng" in state:
        rng.bit_generator.state = state["rng"]
    if "torch_rng" in state:
        torch.set_rng_state(state["torch_rng"])
    history = state.get("history", [])
    history = json.loads(history) if isinstance(history, str) else list(history)
    step = int(state["step"])
    log.info("resumed %s at step %d", path, step)
    return step, history


def average(paths: list[Path], out: Path, config: Any = None, command: str = "",
            weights: list[float] | None = None, read: Callable[[Path], Any] | None = None) -> Path:
    """The mean of the weights of checkpoints of one architecture (a "model soup": models trained on from one
    start), written to ``out``.

    The last checkpoint gives the step and the rest, but no history (its figures are not the mean's) and no
    optimizer state (a mean of weights is exported, or trained on with ``--init``, never resumed).
    ``config``: the registered config (an object with ``to_dict()``) the result is stored as, so it exports
    under that name. ``weights``: one per checkpoint (positive, normalised to sum 1; default equal). The
    sources go into ``averaged_from`` (path, step and weight of each). ``read``: path -> a checkpoint's
    fields (default: the checkpoint file; the CLI reads a model folder through its family's ``from_folder``)."""
    from bridge.errors import BridgeError

    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise BridgeError(f"average needs two or more checkpoints, got {len(paths)}")
    weights = [1.0] * len(paths) if weights is None else [float(w) for w in weights]
    if len(weights) != len(paths) or not all(math.isfinite(w) and w > 0 for w in weights):
        raise BridgeError(f"average: --weights needs one positive number per checkpoint ({len(paths)}), got "
                          + ",".join(f"{w:g}" for w in weights))
    weights = [w / sum(weights) for w in weights]
    states = []
    for p in paths:
        state = read(p) if read else read_checkpoint(p, weights_only=True)   # read once, or one line saying why not
        if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
            raise BridgeError(f"{p}: a checkpoint without model weights")
        states.append(state)
    first = states[0]["model"]
    for p, s in zip(paths[1:], states[1:]):
        m = s["model"]
        if set(m) != set(first) or any(tuple(m[k].shape) != tuple(first[k].shape) for k in first):
            bad = sorted(set(m) ^ set(first)) or [k for k in first if tuple(m[k].shape) != tuple(first[k].shape)]
            raise BridgeError(f"{p}: not the architecture of {paths[0]} (differs at {bad[0]}): only checkpoints of one "
                              "architecture average")
    mean = {}
    for k, v in states[-1]["model"].items():
        mean[k] = (sum(w * s["model"][k].double() for w, s in zip(weights, states)).to(v.dtype)
                   if v.is_floating_point() else v.clone())
    state = {k: v for k, v in states[-1].items() if k not in ("opt", "optimizer", "rng", "torch_rng")}
    state["model"] = mean
    # the sources' validation figures are not the mean's: its history starts empty (the sources are named)
    state["history"] = "[]" if isinstance(states[-1].get("history"), str) else []
    state["averaged_from"] = [{"checkpoint": str(p), "step": int(s.get("step", 0)), "weight": round(w, 6)}
                              for p, s, w in zip(paths, states, weights)]
    if config is not None:
        stored = states[-1].get("config")
        state["config"] = json.dumps(config.to_dict()) if isinstance(stored, str) else config.to_dict()
    if command:
        state["command"] = command
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save(out, state, keep=None)
    log.info("averaged %d checkpoints (steps %s) -> %s", len(paths), [a["step"] for a in state["averaged_from"]], out)
    return out

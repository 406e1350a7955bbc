"""Train the cross-modal transcription VAE on the rendered data (``cmt-bridge train transcription``).

    cmt-bridge data prepare transcription               # render data/transcription (resumable; needs folk)
    cmt-bridge train transcription --threads 1          # -> runs/transcription/model.pt
    cmt-bridge export-onnx transcription                # -> onnx_models/transcription/

The run keeps one checkpoint, ``model.pt``, written at every validation
(export/checkpoints.py); it holds only state dicts and the config as JSON text
(loaded with ``weights_only``).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from plugins.transcription import features, labels

from .augment import random_eq

log = logging.getLogger(__name__)


class FrameSet:
    """Every chunk of a split, end to end with silence between them, with the frame labels the model learns."""

    def __init__(self, folder: Path, limit: int | None = None, fonts: tuple[str, ...] | None = None,
                 below: int | None = None, drills: tuple[str, ...] | None = None, fast: int = 0) -> None:
        """``limit``: the first N files per instrument (tiny configs); ``below``: chunks numbered below it only;
        ``drills``: the drill chunks of these instruments only (None: every instrument's); ``fast``: the frames
        carry the chunks' fast bands after the spectrum (chunks rendered before them: a one-line error)."""
        from .data import DRILL_FROM, chunk_number, font_of, instrument_of

        files = sorted(folder.glob("*.npz"))
        files = [f for f in files if not f.name.endswith(".part.npz")]
        if fonts is not None:
            files = [f for f in files if font_of(f.stem) in fonts]
        if below is not None:
            files = [f for f in files if chunk_number(f.stem) < below]
        if drills is not None:
            files = [f for f in files if chunk_number(f.stem) < DRILL_FROM or instrument_of(f.stem) in drills]
        if limit:
            by_inst: dict[str, list[Path]] = {}
            for f in files:
                by_inst.setdefault(instrument_of(f.stem), []).append(f)
            files = [f for fs in by_inst.values() for f in fs[:limit]]
        if not files:
            raise BridgeError(f"{folder}: no rendered chunks (run: cmt-bridge data prepare transcription)")
        pad = features.CONTEXT
        specs, pitch, onset, velocity, inst = [], [], [], [], []
        for f in files:
            d = np.load(f)
            index = labels.INSTRUMENT_NAMES.index(instrument_of(f.stem))
            spec = d["spec"].astype(np.float32)
            if fast:
                if "bands" not in d.files:
                    raise BridgeError(f"{f}: rendered without fast bands (run: cmt-bridge data prepare transcription "
                                      "again; it renders them)")
                spec = np.concatenate([spec, d["bands"].astype(np.float32)], axis=1)
            specs += [features.silence_frames(pad, features.N_BINS + fast), spec]
            n = len(d["pitch"])
            pitch += [np.full(pad, -1, np.int16), d["pitch"]]
            onset += [np.zeros(pad, np.uint8), d["onset"]]
            velocity += [np.zeros(pad, np.uint8), d["velocity"]]
            inst += [np.full(pad + n, index, np.int64)]
        self.files = files
        self.spec = np.concatenate(specs + [features.silence_frames(pad, features.N_BINS + fast)])
        self.pitch = np.concatenate(pitch + [np.full(pad, -1, np.int16)]).astype(np.int64)
        on = np.concatenate(onset + [np.zeros(pad, np.uint8)]).astype(np.float32)
        # soft onset targets: the labelled frame and half on its neighbours (rendering is sample-exact,
        # the label is rounded to the nearest 16 ms frame)
        self.onset = np.maximum(on, 0.5 * np.maximum(np.roll(on, 1), np.roll(on, -1)))
        self.velocity = np.concatenate(velocity + [np.zeros(pad, np.uint8)])
        self.instrument = np.concatenate(inst + [np.zeros(pad, np.int64)])
        self.pitch_class, self.octave = labels.split_pitch(self.pitch)
        self.dynamics = labels.dynamic_class(self.velocity).astype(np.int64)
        self.symbols = labels.symbols_onehot(self.pitch, self.dynamics, self.instrument)

    def __len__(self) -> int:
        return len(self.spec)

    def batch(self, rng: np.random.Generator, count: int, segment: int, gain_db: float = 0.0,
              before: int = features.CONTEXT_BEFORE, after: int = features.CONTEXT_AFTER, eq_db: float = 0.0):
        lo, hi = before, len(self) - segment - after
        starts = rng.integers(lo, hi, size=count)
        return self.segments(starts, segment, rng, gain_db, before, after, eq_db)

    def segments(self, starts: np.ndarray, segment: int, rng: np.random.Generator | None = None,
                 gain_db: float = 0.0, before: int = features.CONTEXT_BEFORE, after: int = features.CONTEXT_AFTER,
                 eq_db: float = 0.0):
        """Frames ``[starts - before, starts + segment + after)`` and the labels of the ``segment`` frames;
        with ``rng``, each segment at a random level (+-``gain_db``) through a random smooth EQ
        (:func:`augment.random_eq`, +-``eq_db``)."""
        import torch

        ctx = np.arange(-before, segment + after)
        lab = np.arange(segment)
        frames = self.spec[starts[:, None] + ctx[None, :]]
        if (gain_db or eq_db) and rng is not None:
            shift = np.zeros((len(starts), 1, frames.shape[2]), np.float32)
            if gain_db:
                shift += rng.uniform(-gain_db, gain_db, size=(len(starts), 1, 1)) * features.DB_TO_LOG
            if eq_db:
                shift[:, 0, :features.N_BINS] += random_eq(rng, len(starts), eq_db) * features.DB_TO_LOG
            frames = np.maximum(frames + shift, math.log(features.FLOOR)).astype(np.float32)
        idx = starts[:, None] + lab[None, :]
        t = torch.from_numpy
        target = {"pitch_class": t(self.pitch_class[idx]), "octave": t(self.octave[idx]),
                  "dynamics": t(self.dynamics[idx]), "instrument": t(self.instrument[idx])}
        return t(frames), t(self.symbols[idx]), target, t(self.onset[idx])


CHECKPOINT = "model.pt"
#: training on from a model folder (``--init``): the peak learning rate is the config's lr times its
#: ``init_lr_scale`` (0.25 unless the config says otherwise), reached after INIT_WARMUP steps (the optimizer
#: starts afresh), then a cosine down to the config's lr_min
INIT_WARMUP = 200


def learning_rate(cfg, step: int, total: int, first: int = 0) -> float:
    """The schedule: a cosine from cfg.lr to cfg.lr_min over the run; trained on from a folder at step
    ``first`` (> 0), a warm-up to cfg.init_lr_scale * cfg.lr, then a cosine to cfg.lr_min over the rest."""
    if not first:
        return cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * step / total))
    peak, k, n = cfg.lr * cfg.init_lr_scale, step - first, max(1, total - first)
    if k < INIT_WARMUP:
        return peak * (k + 1) / INIT_WARMUP
    return cfg.lr_min + 0.5 * (peak - cfg.lr_min) * (1 + math.cos(math.pi * (k - INIT_WARMUP) / max(1, n - INIT_WARMUP)))


def train(cfg, run_dir: Path, data: Path | None = None, resume: bool = False, steps: int | None = None,
          threads: int | None = None, seed: int | None = None, command: str = "", init: Path | None = None) -> Path:
    """Train ``cfg`` (a TranscriptionConfig or its name) on ``data`` (default data/transcription) into
    ``run_dir/model.pt``; -> that checkpoint.

    ``init``: a model folder (``onnx_models/transcription``) to train on from (export/transcription/weights.py):
    the step count goes on from the folder's (``--steps``, like the config's, is the total), with a fresh
    optimizer and :func:`learning_rate`'s warm restart. ``--resume`` of such a run keeps its schedule."""
    import torch

    from ..checkpoints import restore, save
    from bridge.progress import Progress
    from .configs import get_config
    from .data import data_dir

    cfg = get_config(cfg) if isinstance(cfg, str) else cfg
    if seed is not None:
        cfg = replace(cfg, seed=seed)
    data = Path(data) if data else data_dir()
    run_dir = Path(run_dir)
    command = command or f"cmt-bridge train {cfg.name} --run-dir {run_dir}"
    torch.set_num_threads(threads or 1)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.time()
    train_set = FrameSet(data / "train", cfg.limit_chunks, below=cfg.train_chunks,
                         drills=cfg.drill_instruments, fast=cfg.fast_bands)
    fonts = _fonts_of(train_set.files, cfg)
    valid_set = FrameSet(data / "valid", cfg.limit_chunks, fast=cfg.fast_bands)
    log.info("train %d frames, valid %d frames (%.1fs to load)", len(train_set), len(valid_set), time.time() - t0)
    model = build_model(cfg)
    pitched = train_set.pitch >= 0
    kind = (DuetKind if cfg.kind == "duet" else SoloKind)(cfg, model, train_set, valid_set)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    total = steps or cfg.steps
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt = run_dir / CHECKPOINT
    start, history, first, origin = 0, [], 0, None
    if resume and ckpt.is_file():
        from ..checkpoints import load

        stored = load(ckpt, weights_only=True)
        first, origin = int(stored.get("init_step", 0)), stored.get("init") or None
        start, history = restore(ckpt, model, opt, weights_only=True)
        rng = np.random.default_rng([cfg.seed, start])
    elif init is not None:
        from .weights import load_from_folder

        report = load_from_folder(model, init)
        if cfg.kind != "duet" and cfg.fast_bands and any(k == "audio_encoder.mean" for k in report["fresh_columns"]):
            enc, n = model.audio_encoder, features.N_BINS   # the fast bands' normalisation: this training set's
            with torch.no_grad():
                enc.mean[n:] = torch.from_numpy(train_set.spec[:, n:].mean(0))
                enc.std[n:] = torch.from_numpy(train_set.spec[:, n:].std(0) + 1e-3)
        first = start = report["step"]
        origin = f"{init} ({report['version']})"
        log.info("training on from %s at step %d (fresh: %s; torch vs onnxruntime %.1g)", origin, start,
                 ", ".join(report["fresh"]) or "nothing", report["max_abs"])
        if total <= start:
            raise BridgeError(f"{init} is at step {start}: give --steps above it (the total, e.g. {start + 10000})")
        rng = np.random.default_rng([cfg.seed, start, 1])
    bar = Progress(total, f"train {cfg.name}", done=start)

    def checkpoint(step: int) -> None:
        save(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "config": json.dumps({**cfg.to_dict(), "steps": total}),   # --steps N: the run's own length
                    "history": json.dumps(history), "command": command,
                    "pitched_share": float(pitched.mean()), "init_step": first, "init": origin or "",
                    "fonts": list(fonts)})

    for step in range(start, total):
        lr = learning_rate(cfg, step, total, first)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        parts = kind.losses(rng)
        opt.zero_grad()
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if (step + 1) % cfg.valid_every == 0 or step + 1 == total:
            model.eval()
            with torch.no_grad():
                v, accs = kind.validate()
            row = {"step": step + 1, "lr": lr, **{f"valid_{k}": round(float(x), 4) for k, x in v.items()},
                   **accs, "seconds": round(time.time() - t0, 1)}
            history.append(row)
            log.info("%s", row)
            checkpoint(step + 1)
        bar.update(1, f"loss {parts['total'].item():.3f}")
    bar.close()
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    return ckpt


def _fonts_of(files: list[Path], cfg) -> tuple[str, ...]:
    """The training soundfonts in ``files``; a full config (not a tiny one) missing any of data.TRAIN_FONTS is
    refused: a run on fewer soundfonts is another model than its recipe's (it hears fewer timbres)."""
    from .data import FONTS_HINT, TRAIN_FONTS, font_of, missing_train_fonts

    present = {font_of(p.stem) for p in files}
    missing = missing_train_fonts(present)
    if missing and not cfg.limit_chunks:
        raise BridgeError(f"the training data has no chunks of soundfont(s) {', '.join(missing)}; config {cfg.name} "
                          f"trains on all of {', '.join(TRAIN_FONTS)} ({FONTS_HINT} && cmt-bridge data prepare "
                          "transcription)")
    return tuple(f for f in TRAIN_FONTS if f in present)


def normalise_input(module, train_set: FrameSet) -> None:
    """Set ``module``'s input normalisation buffers (``mean``, ``std``) from the training spectra."""
    import torch

    with torch.no_grad():
        module.mean.copy_(torch.from_numpy(train_set.spec.mean(0)))
        module.std.copy_(torch.from_numpy(train_set.spec.std(0) + 1e-3))


class SoloKind:
    """The cross-modal VAE (``kind="vae"``): solo segments with level augmentation; validated on fixed
    held-out segments (losses and frame pitch accuracy)."""

    def __init__(self, cfg, model, train_set: FrameSet, valid_set: FrameSet) -> None:
        self.cfg, self.model, self.train_set, self.valid_set = cfg, model, train_set, valid_set
        normalise_input(model.audio_encoder, train_set)
        vrng = np.random.default_rng(12345)
        self.wide = {"before": model.before, "after": model.after}
        self.vstarts = vrng.integers(model.before, len(valid_set) - cfg.segment - 1, size=max(64, cfg.batch * 4))

    def losses(self, rng: np.random.Generator) -> dict:
        from .model import losses

        return losses(self.model, *self.train_set.batch(rng, self.cfg.batch, self.cfg.segment, self.cfg.gain_db,
                                                        eq_db=self.cfg.eq_db, **self.wide))

    def validate(self) -> tuple[dict, dict]:
        from .model import losses

        frames, symbols, target, onset = self.valid_set.segments(self.vstarts, self.cfg.segment, **self.wide)
        v = losses(self.model, frames, symbols, target, onset)
        return v, {"valid_frame_pitch_acc": round(frame_accuracy(self.model.transcribe(frames), target), 4)}


class DuetKind:
    """The duet transcriber (``kind="duet"``): mixtures of two instruments drawn from the solo renders
    (export/transcription/duet.py); validated on one fixed batch of held-out mixtures."""

    def __init__(self, cfg, model, train_set: FrameSet, valid_set: FrameSet) -> None:
        from .duet import MixSet

        self.cfg, self.model = cfg, model
        normalise_input(model, train_set)
        self.wide = {"before": model.before, "after": model.after}
        self.train_mix = MixSet(train_set)
        self.vbatch = MixSet(valid_set).batch(np.random.default_rng(12345), max(64, cfg.batch * 4), cfg.segment,
                                              **self.wide)

    def losses(self, rng: np.random.Generator) -> dict:
        from .duet import duet_losses

        return duet_losses(self.model, *self.train_mix.batch(rng, self.cfg.batch, self.cfg.segment,
                                                             eq_db=self.cfg.eq_db, focus=self.cfg.focus,
                                                             **self.wide))

    def validate(self) -> tuple[dict, dict]:
        from .duet import duet_accuracy, duet_losses

        v = duet_losses(self.model, *self.vbatch)
        return v, {f"valid_{k}": round(x, 4) for k, x in duet_accuracy(self.model, self.vbatch[0], self.vbatch[1]).items()}


def frame_accuracy(out: dict, target: dict) -> float:
    """Share of frames whose joint (pitch class, octave) argmax is right, silence included."""
    pc, octv = out["pitch_class"].argmax(-1), out["octave"].argmax(-1)
    silent_pred = pc == labels.NONE_PC
    silent_true = target["pitch_class"] == labels.NONE_PC
    right = (silent_pred & silent_true) | (~silent_pred & ~silent_true & (pc == target["pitch_class"])
                                            & (octv == target["octave"]))
    return float(right.float().mean())


def build_model(cfg):
    """The torch model of a config: the cross-modal VAE, or the duet transcriber (``kind="duet"``)."""
    if cfg.kind == "duet":
        from .duet import DuetNet

        return DuetNet(cfg)
    from .model import CrossModalVAE

    return CrossModalVAE(cfg)


def load_model(ckpt: Path):
    from ..checkpoints import load
    from .configs import config_from_stored

    state = load(ckpt, weights_only=True)
    cfg = config_from_stored(state["config"])
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, state

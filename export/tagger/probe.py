"""CLMR's linear evaluation: heads on the frozen, pre-trained encoder's embeddings.

After NT-Xent pre-training the encoder is frozen; its embeddings of the
train / valid clips (no augmentation) train a linear head and an MLP head
(one hidden layer) with BCE, early-stopped on validation macro ROC-AUC; the
linear head is also trained on 1 % and 10 % of the labelled clips (CLMR's
label-efficiency study). Each head is saved with the encoder as a complete
Tagger checkpoint (``linear.pt``, ``mlp.pt``) that the exporter and the bench load.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import checkpoints
from . import data
from .model import NetConfig, Tagger, make_head
from .train import embed, macro_auc

log = logging.getLogger(__name__)


def fit_head(kind: str, ncfg: NetConfig, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray,
             epochs: int = 60, seed: int = 0) -> tuple[nn.Module, float]:
    """A head trained on embeddings (Adam, BCE, batch 256), best validation macro ROC-AUC kept."""
    torch.manual_seed(seed)
    head = make_head(kind, x.shape[1], ncfg)
    opt = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-5)
    xt, yt, xvt = torch.from_numpy(x), torch.from_numpy(y).float(), torch.from_numpy(xv)
    bce = nn.BCEWithLogitsLoss()
    best, best_state = -1.0, None
    for _ in range(epochs):
        head.train()
        for idx in torch.randperm(len(xt)).split(256):
            loss = bce(head(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            auc = macro_auc(yv, head(xvt).numpy())
        if auc > best:
            best, best_state = auc, {k: v.clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    return head.eval(), best


def linear_evaluation(run_dir: Path, data_root: Path | None = None) -> dict:
    """Embed, fit linear / MLP heads (and 1 % / 10 % linear), save linear.pt / mlp.pt, probe.json."""
    t0 = time.time()
    st = checkpoints.load(run_dir / "ckpt.pt")
    ncfg = NetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in st["net"].items()})
    tagger = Tagger(ncfg, head="linear")
    enc_state = {k[len("encoder."):]: v for k, v in st["model"].items() if k.startswith("encoder.")}
    tagger.encoder.load_state_dict(enc_state)
    tr, va = data.load("train", root=data_root), data.load("valid", root=data_root)
    # the encoder's normalisation layers are in eval mode: CLMR's frozen encoder
    x, xv = embed(tagger.encoder, tr["audio"]), embed(tagger.encoder, va["audio"])
    mu, sd = x.mean(0), x.std(0) + 1e-6  # standardise once; folded into the head's first layer below
    xs, xvs = (x - mu) / sd, (xv - mu) / sd
    report = {"embed_seconds": round(time.time() - t0, 1)}
    rng = np.random.default_rng(0)
    for kind, frac in (("linear", 1.0), ("mlp", 1.0), ("linear", 0.1), ("linear", 0.01)):
        n = max(8, int(len(xs) * frac))
        pick = rng.permutation(len(xs))[:n] if frac < 1 else np.arange(len(xs))
        head, auc = fit_head(kind, ncfg, xs[pick], tr["labels"][pick], xvs, va["labels"],
                             epochs=60 if frac == 1 else 200)
        report[f"{kind}@{frac:g}"] = {"valid_macro_auc": auc, "clips": int(n)}
        log.info("probe %s on %g of the labels: valid macro ROC-AUC %.4f", kind, frac, auc)
        if frac < 1:
            continue
        first = head if kind == "linear" else head[0]
        with torch.no_grad():  # fold the standardisation into the first layer: W (x - mu) / sd + b
            w = first.weight / torch.from_numpy(sd)[None, :]
            first.bias -= (w * torch.from_numpy(mu)[None, :]).sum(1)
            first.weight.copy_(w)
        tagger.head = head
        checkpoints.save(run_dir / f"{kind}.pt", {"model": tagger.state_dict(), "net": st["net"], "config": st["config"], "head": kind,
                    "pretrain_steps": st["step"], "pretrain_seconds": st["seconds"], "valid_macro_auc": auc,
                    "command": st["command"]})
    report["seconds"] = round(time.time() - t0, 1)
    (run_dir / "probe.json").write_text(json.dumps(report, indent=1))
    return report

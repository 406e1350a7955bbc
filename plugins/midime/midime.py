"""MidiMe in numpy: a small VAE over MusicVAE's latent space, learned in seconds on a user's melodies.

MidiMe (Dinculescu, Engel & Roberts 2019) keeps MusicVAE frozen and learns a
tiny VAE whose data are the MusicVAE latents (posterior means) of a few
melodies. Its decoder maps a small z (4-8 dims, prior N(0, I)) back into
MusicVAE's z space, so sampling it gives MusicVAE latents that sound like the
user's set. Here it is two tanh MLPs::

    x (MusicVAE z, centred and scaled) -> tanh(H) -> mu, logvar [d]     (encoder)
    s = mu + exp(logvar / 2) * eps     -> tanh(H) -> x_hat [Z]          (decoder)
    loss = 0.5 |x_hat - x|^2 / recon_sigma^2 + beta * KL(N(mu, var) || N(0, I))

trained with Adam; gradients written by hand (checked against finite
differences in the tests). Saved as JSON (no pickle) tied to the base
model's name and fingerprint.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from bridge.api import InputError, ModelError

log = logging.getLogger(__name__)

FORMAT = "cmt-bridge.midime"
VERSION = 1
LATENT_DIM = 4
HIDDEN = 64
EPOCHS = 800
LEARNING_RATE = 3e-3
RECON_SIGMA = 0.2   # std of the Gaussian reconstruction, in units of the data's RMS spread
BETA = 1.0
WARMUP = 0.25       # share of the epochs over which beta rises linearly from 0
BATCH = 32
PARAM_NAMES = ("W1", "b1", "Wm", "bm", "Wv", "bv", "W2", "b2", "W3", "b3")

Progress = Callable[[int, int, float], None]  # (epoch 1.., epochs, loss)


def init_params(z_dim: int, latent_dim: int = LATENT_DIM, hidden: int = HIDDEN,
                rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    rng = rng if rng is not None else np.random.default_rng(0)

    def dense(n_in: int, n_out: int, gain: float = 1.0) -> np.ndarray:
        return rng.standard_normal((n_in, n_out)) * gain * math.sqrt(1.0 / n_in)

    return {"W1": dense(z_dim, hidden), "b1": np.zeros(hidden),
            "Wm": dense(hidden, latent_dim), "bm": np.zeros(latent_dim),
            "Wv": dense(hidden, latent_dim, 0.1), "bv": np.zeros(latent_dim),
            "W2": dense(latent_dim, hidden), "b2": np.zeros(hidden),
            "W3": dense(hidden, z_dim), "b3": np.zeros(z_dim)}


def loss_and_grads(p: dict[str, np.ndarray], x: np.ndarray, eps: np.ndarray, beta: float = BETA,
                   recon_sigma: float = RECON_SIGMA) -> tuple[float, dict[str, np.ndarray], dict[str, float]]:
    """Mean loss over the batch ``x`` [N, Z] with reparameterisation noise ``eps`` [N, d], and its gradients."""
    n = x.shape[0]
    inv_var = 1.0 / (recon_sigma * recon_sigma)
    # forward
    h = np.tanh(x @ p["W1"] + p["b1"])
    mu = h @ p["Wm"] + p["bm"]
    lv_raw = h @ p["Wv"] + p["bv"]
    lv = np.clip(lv_raw, -12.0, 8.0)  # keeps exp() finite; no gradient flows through the clipped ends
    std = np.exp(0.5 * lv)
    s = mu + std * eps
    g = np.tanh(s @ p["W2"] + p["b2"])
    x_hat = g @ p["W3"] + p["b3"]
    diff = x_hat - x
    rec = 0.5 * inv_var * float((diff * diff).sum()) / n
    kl = 0.5 * float((np.exp(lv) + mu * mu - 1.0 - lv).sum()) / n
    loss = rec + beta * kl
    # backward
    d_xhat = diff * (inv_var / n)
    grads = {"W3": g.T @ d_xhat, "b3": d_xhat.sum(0)}
    d_pre2 = (d_xhat @ p["W3"].T) * (1.0 - g * g)
    grads["W2"], grads["b2"] = s.T @ d_pre2, d_pre2.sum(0)
    d_s = d_pre2 @ p["W2"].T
    d_mu = d_s + beta * mu / n
    d_lv = (d_s * eps * 0.5 * std + beta * 0.5 * (np.exp(lv) - 1.0) / n) * ((lv_raw > -12.0) & (lv_raw < 8.0))
    grads["Wm"], grads["bm"] = h.T @ d_mu, d_mu.sum(0)
    grads["Wv"], grads["bv"] = h.T @ d_lv, d_lv.sum(0)
    d_pre1 = (d_mu @ p["Wm"].T + d_lv @ p["Wv"].T) * (1.0 - h * h)
    grads["W1"], grads["b1"] = x.T @ d_pre1, d_pre1.sum(0)
    return loss, grads, {"recon": rec, "kl": kl}


@dataclass
class Adam:
    lr: float = LEARNING_RATE
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    t: int = 0
    m: dict = field(default_factory=dict)
    v: dict = field(default_factory=dict)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for k, g in grads.items():
            m = self.m.setdefault(k, np.zeros_like(g))
            v = self.v.setdefault(k, np.zeros_like(g))
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            params[k] -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


class MidiMe:
    """A learned personal latent space on top of one MusicVAE (identified by name + fingerprint)."""

    def __init__(self, params: dict[str, np.ndarray], center: np.ndarray, scale: float,
                 base_name: str, base_sha256: str, info: dict | None = None) -> None:
        self.params = params
        self.center = np.asarray(center, dtype=np.float64)
        self.scale = float(scale)
        self.base_name = base_name
        self.base_sha256 = base_sha256
        self.info = dict(info or {})

    @property
    def z_dim(self) -> int:
        return self.params["W1"].shape[0]

    @property
    def latent_dim(self) -> int:
        return self.params["Wm"].shape[1]

    # -- learning ------------------------------------------------------------------
    @classmethod
    def learn(cls, latents: np.ndarray, base_name: str, base_sha256: str, latent_dim: int = LATENT_DIM,
              hidden: int = HIDDEN, epochs: int = EPOCHS, lr: float = LEARNING_RATE, beta: float = BETA,
              recon_sigma: float = RECON_SIGMA, seed: int = 0, progress: Progress | None = None) -> "MidiMe":
        """Fit a MidiMe to MusicVAE latents [N, Z] (posterior means of the user's 2-bar windows)."""
        x = np.asarray(latents, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise InputError(f"MidiMe needs at least 2 melody latents to learn from, got {x.shape[0] if x.ndim else 0}")
        if not 1 <= latent_dim <= 32:
            raise InputError(f"MidiMe latent size must be in 1..32, got {latent_dim}")
        rng = np.random.default_rng(seed)
        center = x.mean(0)
        scale = max(float(np.sqrt(((x - center) ** 2).mean())), 1e-3)
        data = (x - center) / scale
        params = init_params(x.shape[1], latent_dim, hidden, rng)
        opt = Adam(lr=lr)
        n = data.shape[0]
        batch = min(BATCH, n)
        started = time.perf_counter()
        history: list[float] = []
        for epoch in range(1, epochs + 1):
            b = beta * min(1.0, epoch / max(1.0, WARMUP * epochs))
            order = rng.permutation(n)
            total = 0.0
            for i in range(0, n, batch):
                xb = data[order[i:i + batch]]
                eps = rng.standard_normal((xb.shape[0], latent_dim))
                loss, grads, _ = loss_and_grads(params, xb, eps, b, recon_sigma)
                opt.step(params, grads)
                total += loss * xb.shape[0]
            history.append(total / n)
            if progress is not None:
                progress(epoch, epochs, history[-1])
        seconds = time.perf_counter() - started
        info = {"windows": int(n), "epochs": int(epochs), "latent_dim": int(latent_dim), "hidden": int(hidden),
                "lr": lr, "beta": beta, "recon_sigma": recon_sigma, "seed": int(seed),
                "first_loss": history[0], "final_loss": history[-1], "seconds": round(seconds, 3)}
        log.info("MidiMe learned %d windows in %.2f s (loss %.3g -> %.3g)", n, seconds, history[0], history[-1])
        return cls(params, center, scale, base_name, base_sha256, info)

    def loss(self, latents: np.ndarray, seed: int = 0) -> float:
        """The training loss (beta from training) on ``latents``: lower = better fit."""
        x = (np.asarray(latents, dtype=np.float64) - self.center) / self.scale
        eps = np.random.default_rng(seed).standard_normal((x.shape[0], self.latent_dim))
        loss, _, _ = loss_and_grads(self.params, x, eps, self.info.get("beta", BETA),
                                    self.info.get("recon_sigma", RECON_SIGMA))
        return loss

    # -- using it ------------------------------------------------------------------
    def decode(self, s: np.ndarray) -> np.ndarray:
        """Small latents [N, d] -> MusicVAE latents [N, Z] (float32)."""
        p = self.params
        g = np.tanh(np.asarray(s, dtype=np.float64) @ p["W2"] + p["b2"])
        return ((g @ p["W3"] + p["b3"]) * self.scale + self.center).astype(np.float32)

    def encode(self, latents: np.ndarray) -> np.ndarray:
        """MusicVAE latents [N, Z] -> small posterior means [N, d]."""
        p = self.params
        x = (np.asarray(latents, dtype=np.float64) - self.center) / self.scale
        return np.tanh(x @ p["W1"] + p["b1"]) @ p["Wm"] + p["bm"]

    def sample_latents(self, n: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``n`` MusicVAE latents from the personal prior: s ~ N(0, I) through the MidiMe decoder."""
        rng = rng if rng is not None else np.random.default_rng()
        return self.decode(rng.standard_normal((int(n), self.latent_dim)))

    def check_base(self, name: str, sha: str, source: str = "this MidiMe model") -> None:
        """ModelError unless this MidiMe was learned on the MusicVAE ``name`` with fingerprint ``sha``."""
        if sha != self.base_sha256:
            raise ModelError(f"{source} was learned on {self.base_name} ({self.base_sha256[:12]}), but the loaded "
                             f"model is {name} ({sha[:12]}): learn it again with `cmt-bridge midime learn`")

    # -- files ---------------------------------------------------------------------
    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION,
                "base_model": {"name": self.base_name, "sha256": self.base_sha256},
                "z_dim": self.z_dim, "latent_dim": self.latent_dim, "hidden": self.params["W1"].shape[1],
                "center": self.center.tolist(), "scale": self.scale,
                "params": {k: self.params[k].tolist() for k in PARAM_NAMES}, "training": self.info}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_text(json.dumps(self.to_json(), separators=(",", ":")))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "MidiMe":
        from bridge.api import input_file

        path = input_file(path, "MidiMe file")
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path}: not a MidiMe file ({type(e).__name__})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{path}: not a MidiMe file (no \"format\": \"{FORMAT}\")")
        if d.get("version") != VERSION:
            raise InputError(f"{path}: MidiMe file version {d.get('version')!r}, this cmt-bridge reads {VERSION}")
        try:
            z, k, h = int(d["z_dim"]), int(d["latent_dim"]), int(d["hidden"])
            want = {"W1": (z, h), "b1": (h,), "Wm": (h, k), "bm": (k,), "Wv": (h, k), "bv": (k,),
                    "W2": (k, h), "b2": (h,), "W3": (h, z), "b3": (z,)}
            params = {name: np.asarray(d["params"][name], dtype=np.float64) for name in PARAM_NAMES}
            center = np.asarray(d["center"], dtype=np.float64)
            scale = float(d["scale"])
            base = d["base_model"]
            base_name, base_sha = str(base["name"]), str(base["sha256"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{path}: corrupt MidiMe file (bad or missing {e})") from None
        for name, shape in want.items():
            if params[name].shape != shape:
                raise InputError(f"{path}: corrupt MidiMe file ({name} has shape {list(params[name].shape)}, "
                                 f"expected {list(shape)})")
        if center.shape != (z,) or not all(np.isfinite(a).all() for a in (*params.values(), center)) \
                or not scale > 0:
            raise InputError(f"{path}: corrupt MidiMe file (non-finite or misshapen numbers)")
        return cls(params, center, scale, base_name, base_sha, d.get("training", {}))

"""blips: melodies that mostly climb the C major scale, and a model of the next pitch."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bridge.runtime import default_models_dir
from export import checkpoints
from export.data import data_root
from export.families import Dataset, Family

SCALE = np.array([60, 62, 64, 65, 67, 69, 71, 72])


@dataclass(frozen=True)
class BlipsConfig:
    name: str
    doc: str
    steps: int = 100
    lr: float = 0.1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS = {"blips-tiny": BlipsConfig("blips-tiny", "next pitch from the last one (a bigram), 100 steps")}


def prepare(out: Path | None = None, *, jobs: int = 1, limit: int | None = None) -> str:
    """Random walks on the scale, 16 notes each: 70 % a step up, 15 % down, 15 % repeat."""
    out = out or data_root() / "blips"
    out.mkdir(parents=True, exist_ok=True)
    moves = np.random.default_rng(0).choice([1, -1, 0], p=[0.7, 0.15, 0.15], size=(limit or 400, 16))
    walks = SCALE[np.cumsum(moves, axis=1) % len(SCALE)]
    np.savez(out / "blips.npz", train=walks[40:], test=walks[:40])
    return f"blips: {len(walks) - 40} train / 40 test melodies in {out}"


def pairs(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(previous pitch, next pitch) for every note of a split."""
    walks = np.load(data_root() / "blips" / "blips.npz")[split]
    return walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)


def train(cfg, run_dir: Path, *, resume=False, steps=None, seed=None, threads=None, command="") -> None:
    import torch

    torch.manual_seed(cfg.seed if seed is None else seed)
    model = torch.nn.Embedding(128, 128)  # previous pitch -> logits of the next one
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    step, history = 0, []
    if resume and checkpoints.latest_checkpoint(run_dir):
        step, history = checkpoints.restore(checkpoints.latest_checkpoint(run_dir), model, opt)
    x, y = (torch.from_numpy(a) for a in pairs("train"))
    while step < (steps or cfg.steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        history.append({"step": step, "loss": round(loss.item(), 4)})
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    checkpoints.save(checkpoints.numbered(run_dir, step), {
        "model": model.state_dict(), "opt": opt.state_dict(), "step": step, "config": cfg.to_dict(),
        "history": history, "command": command})


def export(source: str, *, out=None, run_dir=None, tolerance=1e-4, command="") -> Path:
    import torch

    from export.pipeline import ExportPlan, Golden, Graph, export_model, tensor

    ckpt = checkpoints.latest_checkpoint(run_dir or Path("runs") / source) if source in CONFIGS else Path(source)
    state = checkpoints.load(ckpt)
    cfg = BlipsConfig(**state["config"])
    model = torch.nn.Embedding(128, 128)
    model.load_state_dict(state["model"])
    x, y = pairs("test")
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    plan = ExportPlan(
        name="blips", config=cfg.name, version=f"{cfg.name}@{state['step']}",
        description="the next pitch (logits over MIDI 0..127) from the previous one",
        graphs=[Graph("next", module=model, args=(torch.zeros(1, dtype=torch.long),),
                      inputs={"pitch": tensor("pitch", "int64", ["batch"])},
                      outputs={"logits": tensor("logits", "float32", ["batch", 128])},
                      dynamic_axes={"pitch": {0: "batch"}, "logits": {0: "batch"}})],
        golden=[Golden("next", {"pitch": x}, {"logits": logits})],
        training={"config": cfg.to_dict(), "step": state["step"], "command": state["command"]},
        data={"dataset": "blips", "prepare": "cmt-bridge data prepare blips", "test_notes": len(x)},
        quality={"test_acc": float((logits.argmax(1) == y).mean()),
                 "repeat_last_pitch_acc": float((x == y).mean())},
    )
    return export_model(plan, Path(out) if out else default_models_dir() / "blips", tolerance)


FAMILY = Family(name="blips", doc="the smallest complete model family", configs=CONFIGS, train=train,
                export=export, datasets=(Dataset("blips", "random walks up the C major scale", prepare),))

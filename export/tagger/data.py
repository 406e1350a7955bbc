"""``cmt-bridge data prepare tagger``: rendered 3 s clips with labels from their MIDI, split by piece.

Pieces (:mod:`.pieces`) are split by a hash of their id. Clips are rendered
with pyfluidsynth (:mod:`.render`) in shards of :data:`SHARD` clips::

    data/tagger/<split>/<font>_<shard>.npz
        audio    int16   [n, 48000]   16 kHz mono, 3.0 s
        labels   uint8   [n, 24]      vocab.TAGS
        stats    float32 [n, 9]       vocab.STATS (labels are recomputable from them)
        families uint8   [n, 8]       pitched families sounding in the window
        pieces   str     [n]          source piece id

Training and validation use FluidR3_GM and TimGM6mb; the test split (unseen
pieces) is rendered with both and with MuseScore_General (an unseen
soundfont). Deterministic (seeded by split, font, shard) and resumable.
"""
from __future__ import annotations

import json
import logging
import os
import time
import zlib
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from . import vocab
from .pieces import prepare_pieces

log = logging.getLogger(__name__)

VERSION = "tagger-v1"
SOUNDFONTS = {"fluidr3": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "timgm6mb": "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "musescore": "/usr/share/sounds/sf3/MuseScore_General.sf3"}
FONTS = {"train": ("fluidr3", "timgm6mb"), "valid": ("fluidr3", "timgm6mb"),
         "test": ("fluidr3", "timgm6mb", "musescore")}
SHARD = 250
SHARDS = {"train": 40, "valid": 2, "test": 2}  # per font
FOLK_SHARE = 0.3

_PIECES: list[dict] = []
_RENDERERS: dict = {}


def data_dir() -> Path:
    return Path(os.environ.get("CMT_BRIDGE_DATA", "data")) / "tagger"


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(":".join(map(str, (VERSION, *key))).encode()))


def _init(pieces: list[dict]) -> None:
    global _PIECES
    _PIECES = pieces


def render_shard(task: tuple) -> str:
    """Render one shard (split, font, index, out dir, clips); returns its path. Skips a finished shard."""
    from .render import N, Renderer, clip_spec

    split, font, idx, out, n = task
    path = Path(out) / split / f"{font}_{idx:03d}.npz"
    if path.exists():
        return str(path)
    if font not in _RENDERERS:
        _RENDERERS[font] = Renderer(SOUNDFONTS[font])
    ren = _RENDERERS[font]
    rng = _rng(split, font, idx)
    multi = [p for p in _PIECES if p["split"] == split and p["kind"] == "multi"]
    folk = [p for p in _PIECES if p["split"] == split and p["kind"] == "folk"]
    audio = np.zeros((n, N), np.int16)
    stats, fams, ids = [], [], []
    i = 0
    while i < n:
        pool = folk if (rng.random() < FOLK_SHARE and folk) else multi
        spec = clip_spec(pool[int(rng.integers(len(pool)))], rng)
        if spec is None:
            continue
        x = ren.render(spec, rng)
        if np.sqrt(np.mean(x ** 2)) < 1e-4:
            continue
        audio[i] = np.round(x * 32767).astype(np.int16)
        stats.append(spec["stats"])
        fams.append(spec["families"])
        ids.append(spec["piece"])
        i += 1
    stats_a, fams_a = np.stack(stats), np.stack(fams)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, audio=audio, stats=stats_a, families=fams_a, pieces=np.array(ids),
             labels=vocab.labels_from_stats(stats_a, fams_a))
    tmp.rename(path)
    return str(path)


def prepare(out: Path | None = None, jobs: int = 2, limit: int | None = None,
            shards: dict | None = None, shard_size: int = SHARD) -> dict:
    """Parse pieces, render every shard (resumable), write index.json; returns the index."""
    out = Path(out or data_dir())
    pieces = prepare_pieces(out, jobs=jobs, limit=limit)
    shards = shards or SHARDS
    tasks = [(split, font, i, str(out), shard_size) for i in range(max(shards.values()))
             for split in shards for font in FONTS[split] if i < shards[split]]
    t0 = time.time()
    if jobs <= 1:  # in-process: no fork of a parent that may hold synth / torch threads
        _init(pieces)
        for k, task in enumerate(tasks):
            log.info("%s (%d/%d, %.0f s)", render_shard(task), k + 1, len(tasks), time.time() - t0)
    else:  # spawn, not fork: a forked child of a process with fluidsynth / torch threads can deadlock
        with get_context("spawn").Pool(jobs, initializer=_init, initargs=(pieces,)) as pool:
            for k, path in enumerate(pool.imap_unordered(render_shard, tasks)):
                log.info("%s (%d/%d, %.0f s)", path, k + 1, len(tasks), time.time() - t0)
    counts = {split: sum(1 for p in pieces if p["split"] == split) for split in ("train", "valid", "test")}
    index = {"version": VERSION, "pieces": counts, "fonts": {s: list(FONTS[s]) for s in shards},
             "soundfonts": SOUNDFONTS, "shards": shards, "shard_size": shard_size, "tags": vocab.TAGS,
             "test_pieces": sorted(p["id"] for p in pieces if p["split"] == "test"),
             "seconds": round(time.time() - t0, 1)}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index


def load(split: str, fonts: tuple[str, ...] | None = None, root: Path | None = None) -> dict:
    """Concatenate a split's shards: audio int16 [n, 48000], labels uint8 [n, 24], font str [n], pieces."""
    root = Path(root or data_dir())
    files = sorted((root / split).glob("*.npz"))
    files = [f for f in files if not f.name.endswith(".tmp.npz")
             and (fonts is None or f.name.rsplit("_", 1)[0] in fonts)]
    if not files:
        from bridge.errors import BridgeError

        raise BridgeError(f"no {split} clips in {root}: run `cmt-bridge data prepare tagger` first")
    parts = [np.load(f) for f in files]
    return {"audio": np.concatenate([p["audio"] for p in parts]),
            "labels": np.concatenate([vocab.labels_from_stats(p["stats"], p["families"]) for p in parts]),
            "font": np.concatenate([[f.name.rsplit("_", 1)[0]] * len(p["stats"]) for f, p in zip(files, parts)]),
            "pieces": np.concatenate([p["pieces"] for p in parts])}

"""Monophonic 2-bar melody windows from the music21 corpus' folk tunes (ABC).

``cmt-bridge data prepare folk`` parses every ABC file of the music21 corpus
(Ryan's Mammoth Collection, O'Neill's 1850, the Essen folk songs, the Nottingham
set, ...) once, caches one small npz per file under ``data/folk/parts/``
(resumable: a rerun skips what is done; the progress ETA counts bytes, largest files
first), and writes ``train/valid/test.npz``
split by *tune* (a hash of the tune's id, never by window), each with
``windows`` int64 [N, 32] and ``tune_ids`` int64 [N]. Files that music21
cannot parse are reported in ``index.json`` and skipped.

Only duple and quadruple meters (bar = 2 or 4 quarter notes, e.g. 4/4, 2/4,
2/2) are kept, so a window of 8 beats is 2 bars. Windows start on every bar.

The same parser makes the 16-bar set (``folk16``, 256 sixteenths a window,
for the hierarchical MusicVAE): ``prepare(..., dataset="folk16", steps=256)``;
each dataset has its own folder and per-file caches.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from bridge.events import Note
from plugins.midime.melody import STEPS, STEPS_PER_BEAT, tokens_from_notes, windows

from ..data import FileProgress, data_root

log = logging.getLogger(__name__)

DATASET = "folk"
SPLIT_SEED = "cmt-bridge-folk-v1"
VALID_SHARE, TEST_SHARE = 0.05, 0.05
BAR_QUARTERS = (2.0, 4.0)
FOLK_COLLECTIONS = ("ryansMammoth", "oneills1850", "essenFolksong", "airdsAirs", "miscFolk", "nottingham-dataset")


def corpus_files() -> list[Path]:
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getCorePaths()
                  if str(p).endswith(".abc") and Path(p).parent.name in FOLK_COLLECTIONS)


def split_of(tune_id: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{tune_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VALID_SHARE else "train"


def _score_windows(score, steps: int = STEPS) -> list[np.ndarray] | None:
    """All usable windows of ``steps`` 16ths (one per bar) of one tune, or None when its meter does not fit."""
    from music21 import harmony, meter

    parts = score.parts if hasattr(score, "parts") and len(score.parts) else [score]
    part = parts[0]
    ts = part.recurse().getElementsByClass(meter.TimeSignature)
    ts = list(ts)
    if not ts or any(t.barDuration.quarterLength not in BAR_QUARTERS for t in ts):
        return None
    flat = part.stripTies().flatten()
    measures = list(part.getElementsByClass("Measure"))
    if not measures:
        return None
    notes = []
    for n in flat.notes:
        if isinstance(n, harmony.Harmony) or n.duration.quarterLength <= 0:
            continue
        pitch = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        notes.append((float(n.offset), float(n.duration.quarterLength), int(pitch)))
    if len(notes) < 4:
        return None
    end = max(o + d for o, d, _ in notes)
    total_steps = int(np.ceil(end * STEPS_PER_BEAT)) + 1
    all_notes = [Note(min(max(p, 0), 127), 90, o, d) for o, d, p in notes]
    tokens = tokens_from_notes(all_notes, steps=total_steps)
    out = []
    for m in measures:
        s = int(round(float(m.offset) * STEPS_PER_BEAT))
        if s + steps <= total_steps:
            out.extend(windows(tokens[s:s + steps], hop=steps, steps=steps))
    return out


def parse_file(path: Path, steps: int = STEPS) -> tuple[str, list[tuple[str, np.ndarray]], str | None]:
    """(path, [(tune_id, windows [n, steps])], error) for one ABC file."""
    import music21

    try:
        obj = music21.converter.parse(str(path))
    except Exception as e:  # music21 raises many kinds of errors on bad ABC
        return str(path), [], f"{type(e).__name__}: {str(e)[:120]}"
    scores = list(obj.scores) if hasattr(obj, "scores") and len(obj.scores) else [obj]
    tunes = []
    for i, sc in enumerate(scores):
        tid = f"{path.parent.name}/{path.name}#{i}"
        try:
            w = _score_windows(sc, steps)
        except Exception as e:  # a single bad tune never stops the file
            log.debug("skip %s: %s", tid, e)
            continue
        if w:
            tunes.append((tid, np.stack(w)))
    return str(path), tunes, None


def _cache_name(path: Path) -> str:
    return hashlib.sha256(str(path).encode()).hexdigest()[:16] + ".npz"


def _work(args):
    path, cache, steps = args
    p, tunes, err = parse_file(Path(path), steps)
    if err is None:
        ids = np.array([t for t, _ in tunes], dtype=object).astype(str)
        arrs = {f"w{i}": w for i, (_, w) in enumerate(tunes)}
        np.savez_compressed(cache, ids=ids, **arrs)
    return p, err, sum(len(w) for _, w in tunes)


def prepare(out: Path | None = None, jobs: int = 2, limit: int | None = None, dataset: str = DATASET,
            steps: int = STEPS) -> dict:
    """Build (or finish building) the folk dataset (windows of ``steps`` 16ths) under ``out``; returns the index."""
    from multiprocessing import Pool

    out = out or data_root() / dataset
    out.mkdir(parents=True, exist_ok=True)
    parts = out / "parts"
    parts.mkdir(exist_ok=True)
    files = corpus_files()[:limit] if limit else corpus_files()
    todo = sorted(((str(f), str(parts / _cache_name(f)), steps) for f in files
                   if not (parts / _cache_name(f)).exists()),
                  key=lambda t: -Path(t[0]).stat().st_size)   # large files first: the pool ends together
    errors: dict[str, str] = {}
    # the ETA counts bytes: parse time follows a file's size (the 10 largest of 1,138 files hold 41 % of the bytes)
    bar = FileProgress(files, f"parse ABC ({len(files)} files)", done={str(f) for f in files} - {t[0] for t in todo})
    t0 = time.time()
    with Pool(jobs) as pool:
        for p, err, n in pool.imap_unordered(_work, todo):
            if err:
                errors[p] = err
            bar.update(p, f"{Path(p).name} ({n} windows)")
    bar.close()
    index = assemble(out, files, dataset, steps)
    index["unparseable"] = errors
    index["seconds"] = round(time.time() - t0, 1)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    for p, e in errors.items():
        print(f"skipped {p}: {e}", file=sys.stderr)
    return index


def assemble(out: Path, files: list[Path], dataset: str = DATASET, steps: int = STEPS) -> dict:
    """Join the per-file caches under ``out/parts`` into train/valid/test.npz (split by tune)."""
    parts = out / "parts"
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    ids: dict[str, list] = {"train": [], "valid": [], "test": []}
    tune_index = 0
    for f in files:
        c = parts / _cache_name(f)
        if not c.exists():
            continue
        with np.load(c, allow_pickle=False) as z:
            for i, tid in enumerate(z["ids"]):
                s = split_of(str(tid))
                w = z[f"w{i}"]
                splits[s].append(w)
                ids[s].append(np.full(len(w), tune_index, dtype=np.int64))
                tune_index += 1
    index = {"dataset": dataset, "steps": steps, "source": "music21 corpus ABC files (public domain folk tunes)",
             "files": len(files), "tunes": tune_index,
             "split": {"seed": SPLIT_SEED, "valid": VALID_SHARE, "test": TEST_SHARE, "by": "tune"}}
    for s in splits:
        w = np.concatenate(splits[s]) if splits[s] else np.zeros((0, steps), np.int64)
        t = np.concatenate(ids[s]) if ids[s] else np.zeros(0, np.int64)
        np.savez_compressed(out / f"{s}.npz", windows=w.astype(np.int64), tune_ids=t)
        index[f"{s}_windows"] = int(len(w))
        index[f"{s}_tunes"] = int(len(set(t.tolist())))
        index[f"{s}_crc"] = zlib.crc32(w.astype(np.int64).tobytes())
    return index


def load_split(split: str, root: Path | None = None, dataset: str = DATASET) -> tuple[np.ndarray, np.ndarray]:
    """``split`` of the dataset in ``root`` (default ``data/<dataset>``; a ``dataset`` that is a path is its root)."""
    if root is None:
        root = Path(dataset) if "/" in dataset or "\\" in dataset else data_root() / dataset
    path = root / f"{split}.npz"
    if not path.exists():
        from bridge.errors import BridgeError

        named = "/" not in dataset and "\\" not in dataset
        how = f"cmt-bridge data prepare {dataset}" if named else "cmt-bridge data prepare midi DIR"
        if root != data_root() / dataset:
            how += f" --out {root}"
        raise BridgeError(f"{path} is missing: run `{how}` first")
    with np.load(path, allow_pickle=False) as z:
        return z["windows"], z["tune_ids"]

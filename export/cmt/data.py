"""Multi-part pieces of the music21 corpus as CMT compound-word tokens.

Parses every multi-part score of the music21 corpus (Bach chorales, Palestrina
and other Renaissance polyphony, Monteverdi madrigals, trecento pieces, the
Haydn / Mozart / Beethoven quartets, ...) once, maps each part to a CMT
instrument class (:mod:`export.cmt.parts`), encodes the piece with
:func:`plugins.cmt.tokens.encode`, caches one small npz per corpus file under
``data/cmt/parts/`` (resumable: a rerun skips what is done) and writes
``train/valid/test.npz`` split by *piece* (a hash of its id), each with

- ``tokens`` int64 [N, F]: all pieces' tokens, one after the other;
- ``offsets`` int64 [pieces + 1]: piece i is ``tokens[offsets[i]:offsets[i+1]]``;
- ``piece_ids`` str [pieces] (corpus path + ``#`` index in the file), ``beats_per_bar`` float64 [pieces].

Pieces whose meter changes (the bar grid would drift), with fewer than 2
parts or fewer than 4 bars are skipped, with the reason, in ``index.json``.
Transposition augmentation happens at training time (:func:`transpose`).
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

from plugins.cmt import tokens as T
from .parts import score_notes

from ..data import data_root

log = logging.getLogger(__name__)

DATASET = "cmt"
SPLIT_SEED = "cmt-bridge-cmt-v1"
VALID_SHARE, TEST_SHARE = 0.05, 0.05
SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn")
EXCLUDED = ("demos", "theoryExercises", "leadSheet")
# Large instrumental scores (string quartet and piano movements, lieder): music21 takes minutes
# per movement on this class of machine, which would make a data prep hours long on 2 cores.
# Left out of dataset v1 by folder (deterministic); `prepare(files=...)` can add them back.
SLOW = ("beethoven", "mozart", "haydn", "schumann_robert", "schumann_clara", "schoenberg", "chopin", "schubert")
MIN_BARS = 4


def corpus_files() -> list[Path]:
    """Every score file of the music21 corpus that may hold a multi-part piece (minus :data:`SLOW`)."""
    from music21 import corpus

    out = []
    for p in corpus.getCorePaths():
        p = Path(p)
        rel = p.as_posix().split("/corpus/", 1)[-1]
        if p.suffix in SUFFIXES and rel.split("/", 1)[0] not in EXCLUDED + SLOW:
            out.append(p)
    return sorted(out)


def piece_id(path: Path, index: int = 0) -> str:
    return f"{Path(path).as_posix().split('/corpus/', 1)[-1]}#{index}"


def split_of(pid: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{pid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VALID_SHARE else "train"


def piece_tokens(score) -> tuple[np.ndarray, float] | str:
    """(tokens, beats per bar) of one score, or the reason it is skipped."""
    parts = list(score.parts) if hasattr(score, "parts") else []
    if len(parts) < 2:
        return "fewer than 2 parts"
    meters = {float(ts.barDuration.quarterLength) for ts in score.recurse().getElementsByClass("TimeSignature")}
    if len(meters) > 1:
        return "meter changes"
    notes, bpb = score_notes(score)
    try:
        T.steps_per_bar(bpb)
    except Exception:
        return f"bar of {bpb:g} beats"
    tok = T.encode(notes, bpb)
    bars = int(((tok[:, T.F["type"]] == T.METRICAL) & (tok[:, T.F["beat"]] == T.BAR_LINE)).sum())
    if bars < MIN_BARS:
        return f"only {bars} bars"
    return tok, bpb


def parse_file(path: Path) -> tuple[list[tuple[str, np.ndarray, float]], dict[str, str]]:
    """([(piece id, tokens, beats per bar)], {piece id: why skipped}) of one corpus file."""
    import music21

    try:
        obj = music21.converter.parse(str(path))
    except Exception as e:  # music21 raises many kinds of errors on odd files
        return [], {piece_id(path): f"{type(e).__name__}: {str(e)[:120]}"}
    scores = list(obj.scores) if hasattr(obj, "scores") and len(obj.scores) else [obj]
    pieces, skipped = [], {}
    for i, sc in enumerate(scores):
        pid = piece_id(path, i)
        try:
            r = piece_tokens(sc)
        except Exception as e:  # one bad piece never stops the file
            r = f"{type(e).__name__}: {str(e)[:120]}"
        if isinstance(r, str):
            skipped[pid] = r
        else:
            pieces.append((pid, r[0], r[1]))
    return pieces, skipped


def _cache_name(path: Path) -> str:
    return hashlib.sha256(piece_id(path).encode()).hexdigest()[:16] + ".npz"


def _work(args: tuple[str, str]) -> tuple[str, int, dict[str, str]]:
    path, cache = args
    pieces, skipped = parse_file(Path(path))
    arrays = {f"t{i}": t for i, (_, t, _) in enumerate(pieces)}
    np.savez_compressed(cache, ids=np.array([p for p, _, _ in pieces], dtype=str),
                        beats_per_bar=np.array([b for _, _, b in pieces], dtype=np.float64),
                        skipped=np.array([f"{k}\t{v}" for k, v in skipped.items()], dtype=str), **arrays)
    return path, len(pieces), skipped


def prepare(out: Path | None = None, jobs: int = 2, files: list[Path] | None = None,
            limit: int | None = None) -> dict:
    """Build (or finish building) the CMT dataset under ``out``; returns the index."""
    from bridge.progress import Progress

    out = out or data_root() / DATASET
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    files = list(files) if files is not None else corpus_files()
    files = files[:limit] if limit else files
    todo = [(str(f), str(parts / _cache_name(f))) for f in files if not (parts / _cache_name(f)).exists()]
    bar = Progress(len(files), "parse scores", done=len(files) - len(todo))
    t0 = time.time()
    if jobs <= 1 or len(todo) <= 1:
        results = map(_work, todo)
    else:
        from multiprocessing import Pool

        pool = Pool(jobs)
        results = pool.imap_unordered(_work, todo)
    for p, n, _ in results:
        bar.update(1, f"{Path(p).name} ({n} pieces)")
    if jobs > 1 and len(todo) > 1:
        pool.close()
        pool.join()
    bar.close()
    index = assemble(out, files)
    index["parsed"] = len(todo)
    index["seconds"] = round(time.time() - t0, 1)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"cmt data: {index['pieces']} pieces, {len(index['skipped'])} skipped -> {out}", file=sys.stderr)
    return index


def assemble(out: Path, files: list[Path]) -> dict:
    """Join the per-file caches under ``out/parts`` into train/valid/test.npz (split by piece)."""
    buckets: dict[str, list[tuple[str, np.ndarray, float]]] = {"train": [], "valid": [], "test": []}
    skipped: dict[str, str] = {}
    for f in files:
        c = out / "parts" / _cache_name(f)
        if not c.exists():
            continue
        with np.load(c, allow_pickle=False) as z:
            for line in z["skipped"].tolist():
                k, _, v = line.partition("\t")
                skipped[k] = v
            for i, pid in enumerate(z["ids"].tolist()):
                buckets[split_of(pid)].append((pid, z[f"t{i}"], float(z["beats_per_bar"][i])))
    index: dict = {"dataset": DATASET, "source": "music21 corpus multi-part scores (public domain)",
                   "files": len(files), "pieces": sum(len(b) for b in buckets.values()),
                   "fields": list(T.FIELDS), "vocab": dict(T.VOCAB),
                   "instruments": [i.name for i in T.INSTRUMENTS],
                   "split": {"seed": SPLIT_SEED, "valid": VALID_SHARE, "test": TEST_SHARE, "by": "piece"},
                   "skipped": skipped}
    write_splits(out, buckets, index)
    return index


def write_splits(out: Path, buckets: dict[str, list[tuple[str, np.ndarray, float]]], index: dict) -> None:
    """``<split>.npz`` for each split's (piece id, tokens, beats per bar): tokens concatenated with offsets;
    the counts and a checksum go into ``index``."""
    for name, pieces in buckets.items():
        toks = [t for _, t, _ in pieces]
        tokens = np.concatenate(toks) if toks else np.zeros((0, len(T.FIELDS)), np.int64)
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in toks])]).astype(np.int64)
        np.savez_compressed(out / f"{name}.npz", tokens=tokens.astype(np.int64), offsets=offsets,
                            piece_ids=np.array([p for p, _, _ in pieces], dtype=str),
                            beats_per_bar=np.array([b for _, _, b in pieces], dtype=np.float64))
        index[f"{name}_pieces"] = len(pieces)
        index[f"{name}_tokens"] = int(len(tokens))
        index[f"{name}_crc"] = zlib.crc32(tokens.astype(np.int64).tobytes())


def load_split(split: str, root: Path | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """([tokens of each piece], beats per bar of each piece) of one split."""
    path = (root or data_root() / DATASET) / f"{split}.npz"
    if not path.exists():
        from bridge.errors import BridgeError

        raise BridgeError(f"{path} is missing: prepare the CMT data first (cmt-bridge data prepare cmt)")
    with np.load(path, allow_pickle=False) as z:
        tok, off = z["tokens"], z["offsets"]
        return [tok[a:b] for a, b in zip(off[:-1], off[1:])], z["beats_per_bar"]


def transpose(tokens: np.ndarray, semitones: int) -> np.ndarray:
    """Tokens with every pitched note moved by ``semitones`` (drums stay); notes out of 0..127 are folded by octaves."""
    out = tokens.copy()
    drums = 1 + T.INSTRUMENT_INDEX["drums"]
    m = (out[:, T.F["type"]] == T.NOTE) & (out[:, T.F["instrument"]] != drums) & (out[:, T.F["pitch"]] > 0)
    p = out[m, T.F["pitch"]] - 1 + semitones
    p = np.where(p < 0, p + 12 * ((-p + 11) // 12), p)
    p = np.where(p > 127, p - 12 * ((p - 127 + 11) // 12), p)
    out[m, T.F["pitch"]] = p + 1
    return out

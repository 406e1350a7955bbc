"""Source pieces for the tagger's renders: music21 corpus scores as per-part note arrays.

Multi-part scores (Bach chorales, Monteverdi, trecento, a hashed subset of
Palestrina) and monophonic folk tunes (a hashed subset of Ryan's Mammoth
Collection, ABC) are parsed once and cached in ``data/tagger/pieces.pkl`` as::

    {"id": "bach/bwv66.6.mxl#0", "kind": "multi"|"folk", "split": "train"|"valid"|"test",
     "parts": [float32 [n, 3] (start quarter, duration quarters, MIDI pitch), ...]}

The split is by piece (a hash of its id): test pieces are never rendered for training.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SPLIT_SEED = "cmt-bridge-tagger-v1"
VALID_SHARE, TEST_SHARE = 0.08, 0.12
MULTI = ("bach", "monteverdi", "trecento", "josquin")
SUBSETS = {"palestrina": 220, "ryansMammoth": 360}  # folder -> files kept (by hash order: deterministic)
FOLK = ("ryansMammoth",)
SUFFIXES = (".mxl", ".xml", ".musicxml", ".krn", ".abc")
MAX_TUNES_PER_FILE = 12


def split_of(pid: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{pid}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VALID_SHARE else "train"


def corpus_files() -> list[Path]:
    """The corpus files to parse (deterministic)."""
    from music21 import corpus

    by_folder: dict[str, list[Path]] = {}
    for p in corpus.getCorePaths():
        p = Path(p)
        folder = p.as_posix().split("/corpus/", 1)[-1].split("/", 1)[0]
        if p.suffix in SUFFIXES and (folder in MULTI or folder in SUBSETS):
            by_folder.setdefault(folder, []).append(p)
    out: list[Path] = []
    for folder, files in sorted(by_folder.items()):
        files.sort(key=lambda f: hashlib.sha256(f.as_posix().encode()).hexdigest())
        out += files[:SUBSETS.get(folder, len(files))]
    return out


def _parts_of(score) -> list[np.ndarray]:
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    out = []
    for part in parts[:8]:
        rows = []
        for n in part.stripTies().flatten().notes:
            dur = float(n.duration.quarterLength)
            if dur <= 0:
                continue
            for p in n.pitches:
                rows.append((float(n.offset), dur, float(p.midi)))
        if rows:
            out.append(np.array(sorted(rows), np.float32))
    return out


def parse_file(path: Path) -> list[dict]:
    """Every piece in one corpus file (an ABC file may hold many tunes); [] when music21 cannot parse it."""
    from music21 import converter, stream

    rel = path.as_posix().split("/corpus/", 1)[-1]
    folder = rel.split("/", 1)[0]
    try:
        parsed = converter.parse(path)
    except Exception as e:  # music21 raises many types on odd files
        log.warning("skipped %s: %s", rel, e)
        return []
    scores = list(parsed.scores)[:MAX_TUNES_PER_FILE] if isinstance(parsed, stream.Opus) else [parsed]
    out = []
    for i, sc in enumerate(scores):
        try:
            parts = _parts_of(sc)
        except Exception as e:
            log.warning("skipped %s#%d: %s", rel, i, e)
            continue
        if not parts or sum(len(p) for p in parts) < 8:
            continue
        pid = f"{rel}#{i}"
        kind = "folk" if folder in FOLK else "multi"
        if kind == "multi" and len(parts) < 2:
            kind = "folk"
        out.append({"id": pid, "kind": kind, "split": split_of(pid), "parts": parts})
    return out


def prepare_pieces(out: Path, jobs: int = 2, limit: int | None = None) -> list[dict]:
    """Parse (or load the cached) pieces into ``out/pieces.pkl``."""
    cache = out / "pieces.pkl"
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    files = corpus_files()[:limit]
    t0 = time.time()
    pieces: list[dict] = []
    with Pool(jobs) as pool:
        for i, got in enumerate(pool.imap(parse_file, files, chunksize=4)):
            pieces += got
            if i % 100 == 0:
                log.info("parsed %d/%d files, %d pieces, %.0f s", i, len(files), len(pieces), time.time() - t0)
    out.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(pieces, f)
    log.info("%d pieces from %d files in %.0f s", len(pieces), len(files), time.time() - t0)
    return pieces

"""A MusicVAE training set from your own MIDI folder: ``cmt-bridge data prepare midi DIR``.

Every ``.mid`` / ``.midi`` file under ``DIR`` (recursively) is read once into
a small per-file cache (``<out>/parts/``, keyed by the file's path, size and
modification time: a rerun skips what is done and re-reads what changed), then
``train/valid/test.npz`` are written in the folk set's format (``windows``
int64 [N, 32], ``tune_ids`` int64 [N]: the file's index), split by *file* (a
hash of its path relative to ``DIR``), never by window.

The melody of each track (and channel) is its skyline: the highest note at
each onset, each note cut where the next begins, so a piano part gives its top
line. Drums (channel 10) and lines whose median pitch is below C3 (48, the
model's lowest note: bass lines) are left out. Bars are 2/4, 4/4 or 2/2 from
beat 0 (files in other meters are skipped and listed in ``index.json``), and
windows start on every bar, as for the folk tunes. Progress and its ETA count
bytes read, not files, so a few large files do not make the ETA lie.
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError, InputError
from bridge.events import Note
from plugins.midime.melody import MIN_PITCH, STEPS, STEPS_PER_BAR, STEPS_PER_BEAT, tokens_from_notes, windows

from ..data import cache_each, data_root, midi_files
from .folk import TEST_SHARE, VALID_SHARE

DATASET = "midi"
SPLIT_SEED = "cmt-bridge-midi-v1"
BAR_QUARTERS = (2.0, 4.0)
DRUM_CHANNEL = 9
MIN_NOTES = 4   # a line with fewer notes is no melody


def split_of(rel: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{rel}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VALID_SHARE else "train"


def skyline(notes: list[Note]) -> list[Note]:
    """The top line of ``notes``: the highest note at each onset, each cut where the next one starts."""
    by_onset: dict[float, Note] = {}
    for n in notes:
        key = round(n.start * STEPS_PER_BEAT * 4) / (STEPS_PER_BEAT * 4)   # 64th-note tolerance
        if key not in by_onset or n.pitch > by_onset[key].pitch:
            by_onset[key] = n
    line = [by_onset[k] for k in sorted(by_onset)]
    out = []
    for n, nxt in zip(line, line[1:] + [None]):
        end = n.end if nxt is None else min(n.end, nxt.start)
        if end > n.start:
            out.append(Note(n.pitch, n.velocity, n.start, end - n.start, n.channel))
    return out


def _meter_problem(path: Path) -> str | None:
    """Why the file's meter does not fit 2-bar windows of 4/4 (None when it does)."""
    import mido

    for track in mido.MidiFile(str(path), clip=True).tracks:
        for msg in track:
            if msg.type == "time_signature":
                bar = msg.numerator * 4.0 / msg.denominator
                if bar not in BAR_QUARTERS:
                    return (f"meter {msg.numerator}/{msg.denominator}: the 2-bar windows need 2/4, 4/4 or 2/2")
    return None


def file_lines(path: Path) -> tuple[list[tuple[str, np.ndarray]], str | None]:
    """([(voice, windows [n, 32])], reason the file was skipped or None)."""
    from bridge.midifile import read_tracks

    try:
        voices = read_tracks(path)
        problem = _meter_problem(path)
    except InputError as e:
        return [], str(e)
    except Exception as e:  # mido raises many kinds of errors on broken files
        return [], f"not a readable MIDI file ({type(e).__name__}: {str(e)[:100]})"
    if problem:
        return [], problem
    out = []
    for name, notes in voices.items():
        notes = [n for n in notes if n.channel != DRUM_CHANNEL]
        if len(notes) < MIN_NOTES or statistics.median(n.pitch for n in notes) < MIN_PITCH:
            continue
        line = skyline(notes)
        end = max(n.end for n in line)
        steps = int(np.ceil(end * STEPS_PER_BEAT / STEPS_PER_BAR)) * STEPS_PER_BAR
        found = windows(tokens_from_notes(line, steps=max(steps, STEPS)), hop=STEPS_PER_BAR)
        if found:
            out.append((name, np.stack(found)))
    if not out:
        return [], "no melodic line with a 2-bar window of at least 2 notes"
    return out, None


def _cache_name(path: Path) -> str:
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".npz"


def _work(args: tuple[str, str]) -> tuple[str, str | None, int]:
    path, cache = args
    lines, err = file_lines(Path(path))
    arrays = {f"w{i}": w for i, (_, w) in enumerate(lines)}
    np.savez_compressed(cache, voices=np.array([v for v, _ in lines], dtype=str),
                        error=np.array(err or ""), **arrays)
    return path, err, sum(len(w) for _, w in lines)


def prepare(source: Path, out: Path | None = None, jobs: int = 2, limit: int | None = None) -> dict:
    """Build (or finish building) the dataset of ``source``'s MIDI files under ``out``; returns the index."""
    source = Path(source).expanduser()
    if not source.is_dir():
        raise BridgeError(f"data prepare midi: {source} is not a folder of MIDI files")
    files = midi_files(source)[:limit] if limit else midi_files(source)
    if not files:
        raise BridgeError(f"data prepare midi: no .mid or .midi files under {source}")
    out = out or data_root() / DATASET
    t0 = time.time()
    cache_each(files, out / "parts", _cache_name, _work, f"read MIDI ({len(files)} files)",
               lambda r: f"{Path(r[0]).name} ({r[2]} windows)", jobs)
    index = assemble(out, source, files)
    index["seconds"] = round(time.time() - t0, 1)
    index["out"] = str(out)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    for p, e in index["skipped"].items():
        print(f"skipped {p}: {e}", file=sys.stderr)
    return index


def assemble(out: Path, source: Path, files: list[Path]) -> dict:
    """Join the per-file caches into train/valid/test.npz, split by file."""
    splits: dict[str, list] = {"train": [], "valid": [], "test": []}
    ids: dict[str, list] = {"train": [], "valid": [], "test": []}
    skipped: dict[str, str] = {}
    used = 0
    for i, f in enumerate(files):
        rel = f.relative_to(source).as_posix()
        with np.load(out / "parts" / _cache_name(f), allow_pickle=False) as z:
            if str(z["error"]):
                skipped[rel] = str(z["error"])
                continue
            w = np.concatenate([z[f"w{k}"] for k in range(len(z["voices"]))])
        s = split_of(rel)
        splits[s].append(w)
        ids[s].append(np.full(len(w), i, dtype=np.int64))
        used += 1
    index = {"dataset": DATASET, "source": str(source), "files": len(files), "files_used": used,
             "skipped": skipped, "split": {"seed": SPLIT_SEED, "valid": VALID_SHARE, "test": TEST_SHARE,
                                           "by": "file"}}
    for s in splits:
        w = np.concatenate(splits[s]) if splits[s] else np.zeros((0, STEPS), np.int64)
        t = np.concatenate(ids[s]) if ids[s] else np.zeros(0, np.int64)
        np.savez_compressed(out / f"{s}.npz", windows=w.astype(np.int64), tune_ids=t)
        index[f"{s}_windows"] = int(len(w))
        index[f"{s}_files"] = int(len(set(t.tolist())))
        index[f"{s}_crc"] = zlib.crc32(w.astype(np.int64).tobytes())
    return index

"""A CMT training set from the multi-part files of your own MIDI folder: ``cmt-bridge data prepare midi-cmt DIR``.

The CMT side of ``data prepare midi DIR`` (MusicVAE's melodies, export/musicvae/midi.py):
every ``.mid`` / ``.midi`` file under ``DIR`` with two parts or more (tracks, or
channels of one track) becomes one piece in the CMT dataset's own format
(export/cmt/data.py: ``train/valid/test.npz`` with ``tokens``, ``offsets``,
``piece_ids``, ``beats_per_bar``), so ``cmt-bridge train cmt --data OUT`` trains
on it as on the music21 scores.

Parts -> CMT instrument classes: channel 10 is drums; a part named like an
instrument takes it (export/cmt/parts.py: "violin I" lead, "bass" bass,
"piano" piano...); the others by register, as for unnamed score parts: the
highest part (by median pitch) lead, the lowest bass when there are 3 parts or
more (or when its median pitch is below C3), the rest strings. Nothing else is needed: CMT's conditioning in training
is the bar's rhythmic density and strength, which :func:`plugins.cmt.tokens.encode`
measures from the notes themselves (live, the video sets them), so a MIDI file
conditions the model exactly as a score does; no video features are involved.

Like the MusicVAE path: a per-file cache (``<out>/parts/``, keyed by path, size
and modification time: a rerun skips what is done), progress and ETA in bytes
read, a split by file (a hash of the path relative to ``DIR``), skipped files
with their reason in ``index.json``. Meter changes, bars that are not a whole
number of sixteenths, and pieces shorter than 4 bars are skipped, as for scores.
"""
from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError, InputError
from plugins.cmt import tokens as T

from ..data import cache_each, data_root, midi_files
from .data import MIN_BARS, TEST_SHARE, VALID_SHARE, write_splits
from .parts import instrument_for_part

DATASET = "midi-cmt"
SPLIT_SEED = "cmt-bridge-midi-cmt-v1"
DRUM_CHANNEL = 9
MIN_NOTES = 4       # a part with fewer notes is noise (a count-in, a stray note)
BASS_BELOW = 48     # MIDI pitch (C3): the lowest of two parts with its median below is the bass


def split_of(rel: str) -> str:
    h = int(hashlib.sha256(f"{SPLIT_SEED}:{rel}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < TEST_SHARE else "valid" if h < TEST_SHARE + VALID_SHARE else "train"


def _bar_beats(path: Path) -> float | str:
    """The file's bar in beats (4 without a time signature), or why it does not fit."""
    import mido

    bars = set()
    for track in mido.MidiFile(str(path), clip=True).tracks:
        for msg in track:
            if msg.type == "time_signature":
                bars.add(msg.numerator * 4.0 / msg.denominator)
    if len(bars) > 1:
        return "meter changes"
    bar = bars.pop() if bars else 4.0
    try:
        T.steps_per_bar(bar)
    except InputError:
        return f"bar of {bar:g} beats"
    return bar


def instruments(voices: dict[str, list]) -> dict[str, list]:
    """Notes per CMT instrument class from notes per voice (track / channel): drums, names, then register."""
    out: dict[str, list] = {}
    pitched = {}
    for name, notes in voices.items():
        drums = [n for n in notes if n.channel == DRUM_CHANNEL]
        if drums:
            out.setdefault("drums", []).extend(drums)
        rest = [n for n in notes if n.channel != DRUM_CHANNEL]
        if len(rest) >= MIN_NOTES:
            pitched[name] = rest
    median = {v: statistics.median(n.pitch for n in pitched[v]) for v in pitched}
    order = sorted(pitched, key=lambda v: -median[v])   # top part first
    for i, name in enumerate(order):
        ins = instrument_for_part(name, i, len(order))
        if ins == "strings" and i == len(order) - 1 and median[name] < BASS_BELOW:
            ins = "bass"                                 # the lowest of two parts, in the bass register
        out.setdefault(ins, []).extend(pitched[name])
    return {k: sorted(v, key=lambda n: (n.start, n.pitch)) for k, v in out.items()}


def file_piece(path: Path) -> tuple[np.ndarray, float, list[str]] | str:
    """(tokens, beats per bar, instrument classes) of one MIDI file, or why it is skipped."""
    from bridge.midifile import read_tracks

    try:
        voices = read_tracks(path)
        bar = _bar_beats(path)
    except InputError as e:
        return str(e)
    except Exception as e:  # mido raises many kinds of errors on broken files
        return f"not a readable MIDI file ({type(e).__name__}: {str(e)[:100]})"
    if isinstance(bar, str):
        return bar
    parts = [v for v, notes in voices.items() if len(notes) >= MIN_NOTES]
    if len(parts) < 2:
        return "one part only (CMT needs several tracks or channels)"
    notes = instruments(voices)
    tok = T.encode(notes, bar)
    bars = int(((tok[:, T.F["type"]] == T.METRICAL) & (tok[:, T.F["beat"]] == T.BAR_LINE)).sum())
    if bars < MIN_BARS:
        return f"only {bars} bars"
    return tok, bar, sorted(notes)


def _cache_name(path: Path) -> str:
    st = path.stat()
    key = f"cmt|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha256(key.encode()).hexdigest()[:16] + ".npz"


def _work(args: tuple[str, str]) -> tuple[str, str | None]:
    path, cache = args
    r = file_piece(Path(path))
    if isinstance(r, str):
        np.savez_compressed(cache, error=np.array(r), tokens=np.zeros((0, len(T.FIELDS)), np.int64),
                            beats_per_bar=np.array(0.0), instruments=np.array([], dtype=str))
        return path, r
    np.savez_compressed(cache, error=np.array(""), tokens=r[0], beats_per_bar=np.array(r[1]),
                        instruments=np.array(r[2], dtype=str))
    return path, None


def prepare(source: Path, out: Path | None = None, jobs: int = 2, limit: int | None = None) -> dict:
    """Build (or finish building) the CMT set of ``source``'s multi-part MIDI files under ``out``; the index."""
    source = Path(source).expanduser()
    if not source.is_dir():
        raise BridgeError(f"data prepare midi-cmt: {source} is not a folder of MIDI files")
    files = midi_files(source)[:limit] if limit else midi_files(source)
    if not files:
        raise BridgeError(f"data prepare midi-cmt: no .mid or .midi files under {source}")
    out = out or data_root() / DATASET
    t0 = time.time()
    cache_each(files, out / "parts", _cache_name, _work, f"read MIDI parts ({len(files)} files)",
               lambda r: f"{Path(r[0]).name} ({'skipped' if r[1] else 'a piece'})", jobs)
    index = assemble(out, source, files)
    index["seconds"] = round(time.time() - t0, 1)
    index["out"] = str(out)
    (out / "index.json").write_text(json.dumps(index, indent=1))
    if not index["pieces"]:
        raise BridgeError(f"data prepare midi-cmt: none of the {len(files)} MIDI files under {source} has two parts "
                          f"or more (tracks or channels) of {MIN_BARS} bars or more; reasons in {out / 'index.json'}")
    for p, e in index["skipped"].items():
        print(f"skipped {p}: {e}", file=sys.stderr)
    return index


def assemble(out: Path, source: Path, files: list[Path]) -> dict:
    """Join the per-file caches into train/valid/test.npz in the CMT dataset's format, split by file."""
    buckets: dict[str, list[tuple[str, np.ndarray, float]]] = {"train": [], "valid": [], "test": []}
    skipped: dict[str, str] = {}
    used: dict[str, int] = {}
    for f in files:
        rel = f.relative_to(source).as_posix()
        with np.load(out / "parts" / _cache_name(f), allow_pickle=False) as z:
            if str(z["error"]):
                skipped[rel] = str(z["error"])
                continue
            buckets[split_of(rel)].append((rel, z["tokens"], float(z["beats_per_bar"])))
            for ins in z["instruments"].tolist():
                used[ins] = used.get(ins, 0) + 1
    index: dict = {"dataset": DATASET, "source": str(source), "files": len(files),
                   "pieces": sum(len(b) for b in buckets.values()), "fields": list(T.FIELDS),
                   "vocab": dict(T.VOCAB), "instruments": [i.name for i in T.INSTRUMENTS],
                   "pieces_with": used, "conditioning": "density and strength measured from the notes (no video)",
                   "split": {"seed": SPLIT_SEED, "valid": VALID_SHARE, "test": TEST_SHARE, "by": "file"},
                   "skipped": skipped}
    write_splits(out, buckets, index)
    return index

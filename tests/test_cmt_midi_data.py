"""``cmt-bridge data prepare midi-cmt DIR`` (export/cmt/midi.py): multi-part MIDI files written here with mido
-> the CMT dataset's format, and a tiny CMT training run on it.

The files: a trio (lead, chords, bass on three tracks), a band on channels of one track (melody, bass,
drums on channel 10), a waltz in 3/4 with two parts, a single melody (no parts: skipped), a 2-bar duo (too
short), a broken file. The tokens written are compared with the tokens the notes make.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bridge.events import Note
from export.cmt import midi
from export.cmt.data import load_split
from plugins.cmt import tokens as T
from test_musicvae_midi_data import write

ROOT = Path(__file__).resolve().parents[1]

LEAD = [(0, 72 + (0, 2, 4, 5, 7, 5, 4, 2)[i % 8], i * 0.5, 0.5) for i in range(64)]            # 8 bars
CHORDS = [(1, p, b * 4.0, 4.0) for b in range(8) for p in (60, 64, 67)]
BASS = [(2, 36 + (i % 2) * 7, i * 2.0, 2.0) for i in range(16)]
DRUMS = [(9, 36 + (i % 2) * 2, i * 1.0, 0.1) for i in range(32)]
WALTZ_TOP = [(0, 76 - i % 5, i * 1.0, 1.0) for i in range(24)]                                 # 8 bars of 3/4
WALTZ_LOW = [(1, 43 + (i % 3), i * 3.0, 3.0) for i in range(8)]


@pytest.fixture
def folder(tmp_path) -> Path:
    src = tmp_path / "my midi"
    write(src / "trio.mid", [LEAD, CHORDS, BASS])
    write(src / "band" / "one track.mid", [LEAD + BASS + DRUMS])          # parts on channels of one track
    write(src / "waltz.mid", [WALTZ_TOP, WALTZ_LOW], meter=(3, 4))
    write(src / "tune.mid", [LEAD])
    write(src / "short.mid", [LEAD[:16], BASS[:4]])
    (src / "broken.mid").write_bytes(b"MThd nonsense")
    return src


def notes(rows) -> list[Note]:
    return [Note(p, 80, s, d, ch) for ch, p, s, d in rows]


def prepare_cli(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "export", "data", "prepare", "midi-cmt", str(folder), "--out",
                           str(out), *extra], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def test_multi_part_files_become_cmt_pieces_split_by_file(folder, tmp_path):
    out = tmp_path / "data"
    r = prepare_cli(folder, out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "midi-cmt: 3 pieces from 6 files" in r.stdout and f"cmt-bridge train cmt --data {out}" in r.stdout
    assert "kB" in r.stderr                                  # the progress bar counts bytes, not files
    assert "skipped tune.mid: one part only" in r.stderr and "skipped short.mid: only 2 bars" in r.stderr
    assert "skipped broken.mid: " in r.stderr and "EOFError" in r.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["pieces"] == 3 and index["split"]["by"] == "file" and index["fields"] == list(T.FIELDS)
    pieces = {}
    for s in ("train", "valid", "test"):
        toks, bpb = load_split(s, out)                       # the CMT trainer's own reader
        with np.load(out / f"{s}.npz") as z:
            ids = z["piece_ids"].tolist()
        for pid, t, b in zip(ids, toks, bpb):
            assert midi.split_of(pid) == s
            pieces[pid] = (t, b)
    assert set(pieces) == {"trio.mid", "band/one track.mid", "waltz.mid"}
    # the tokens are those of the notes per instrument: top part lead, chords strings, lowest bass, ch 10 drums
    want = T.encode({"lead": notes(LEAD), "strings": notes(CHORDS), "bass": notes(BASS)}, 4.0)
    assert np.array_equal(pieces["trio.mid"][0], want) and pieces["trio.mid"][1] == 4.0
    band = pieces["band/one track.mid"][0]
    used = {T.INSTRUMENTS[i - 1].name for i in band[band[:, T.F["type"]] == T.NOTE, T.F["instrument"]]}
    assert used == {"lead", "bass", "drums"}
    assert pieces["waltz.mid"][1] == 3.0 and len(pieces["waltz.mid"][0]) > 8 * 4


def test_prepare_resumes_and_a_folder_without_parts_is_one_line(folder, tmp_path):
    out = tmp_path / "data"
    first = midi.prepare(folder, out, jobs=1)
    cached = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    assert len(cached) == 6
    again = midi.prepare(folder, out, jobs=1)                 # nothing to read again: every file is cached
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()} == cached
    assert [again[f"{s}_crc"] for s in ("train", "valid", "test")] == [first[f"{s}_crc"] for s in
                                                                       ("train", "valid", "test")]
    solo = tmp_path / "solo"
    write(solo / "a.mid", [LEAD])
    write(solo / "b.mid", [BASS])
    r = prepare_cli(solo, tmp_path / "out")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()[-1]) > 0
    last = r.stderr.strip().splitlines()[-1]
    assert "none of the 2 MIDI files" in last and "two parts or more" in last and "Traceback" not in r.stderr


def test_a_tiny_cmt_trains_on_the_prepared_folder(folder, tmp_path):
    pytest.importorskip("torch", reason="training needs the train extra")
    data = tmp_path / "mine"
    assert prepare_cli(folder, data).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "export", "train", "cmt-tiny", "--data", str(data), "--steps", "3",
                        "--threads", "1", "--run-dir", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    losses = [h["loss"] for h in history if h["kind"] == "valid"]
    assert len(losses) >= 2 and all(np.isfinite(losses))

"""``cmt-bridge data prepare midi DIR`` (export/musicvae/midi.py): MIDI files written here with mido -> npz.

A real round trip: mido writes the files (a lead with a bass and drums, a piano part with chords, a waltz, a
broken file), the command reads them in its own process, and the windows it writes are compared with the
windows the notes make.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from bridge.events import Note
from export.musicvae import midi
from plugins.midime import melody

ROOT = Path(__file__).resolve().parents[1]
TPB = 480


def write(path: Path, tracks: list[list[tuple[int, int, float, float]]], meter=(4, 4)) -> Path:
    """tracks: [(channel, pitch, start_beats, duration_beats)], one MIDI track each."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    head = mido.MidiTrack()
    head.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0))
    mid.tracks.append(head)
    for notes in tracks:
        events = []
        for ch, pitch, start, dur in notes:
            events.append((round(start * TPB), 1, mido.Message("note_on", channel=ch, note=pitch, velocity=80)))
            events.append((round((start + dur) * TPB), 0, mido.Message("note_off", channel=ch, note=pitch)))
        track, now = mido.MidiTrack(), 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))
    return path


LEAD = [(0, 60 + (0, 2, 4, 5, 7, 5, 4, 2)[i % 8] + (i // 8) % 3, i * 0.5, 0.5) for i in range(64)]  # 8 bars
BASS = [(1, 36 + (i % 2) * 7, i * 2.0, 2.0) for i in range(16)]
DRUMS = [(9, 36, i * 1.0, 0.1) for i in range(32)]
# a piano part: a melody on top of held chords (the skyline is the melody)
TOP = [(0, 72 + (0, 4, 7, 4)[i % 4], i * 1.0, 1.0) for i in range(24)]                           # 6 bars
CHORDS = [(0, p, b * 4.0, 4.0) for b in range(6) for p in (48, 55, 64)]


@pytest.fixture
def folder(tmp_path) -> Path:
    src = tmp_path / "my midi"
    write(src / "song.mid", [LEAD, BASS, DRUMS])
    write(src / "sub" / "piano.MIDI", [TOP + CHORDS])
    write(src / "waltz.mid", [LEAD], meter=(3, 4))
    (src / "broken.mid").write_bytes(b"MThd nonsense")
    (src / "notes.txt").write_text("not MIDI")
    return src


def expected(notes: list[tuple[int, int, float, float]], bars: int) -> np.ndarray:
    line = [Note(p, 80, s, d, ch) for ch, p, s, d in notes]
    return np.stack(melody.windows(melody.tokens_from_notes(line, steps=bars * melody.STEPS_PER_BAR)))


def prepare(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "export", "data", "prepare", "midi", str(folder), "--out", str(out),
                           *extra], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def test_prepare_writes_the_windows_of_each_melody_split_by_file(folder, tmp_path):
    out = tmp_path / "data"
    r = prepare(folder, out, "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert "midi (" in r.stdout and "2 of 4 files" in r.stdout and "--data " + str(out) in r.stdout
    assert "kB" in r.stderr                                  # the progress bar counts bytes, not files
    assert "skipped waltz.mid: meter 3/4" in r.stderr and "skipped broken.mid" in r.stderr
    import json

    index = json.loads((out / "index.json").read_text())
    assert index["files"] == 4 and index["files_used"] == 2 and index["split"]["by"] == "file"
    got = {s: np.load(out / f"{s}.npz") for s in ("train", "valid", "test")}
    windows = np.concatenate([got[s]["windows"] for s in got])
    ids = np.concatenate([got[s]["tune_ids"] for s in got])
    assert windows.dtype == np.int64 and windows.shape[1] == melody.STEPS
    files = midi.midi_files(folder)
    song, piano = files.index(folder / "song.mid"), files.index(folder / "sub" / "piano.MIDI")
    # the lead alone (bass below C3 and drums are left out); the piano's top line, chords dropped
    assert (windows[ids == song] == expected(LEAD, 8)).all() and len(windows[ids == song]) == 7
    assert (windows[ids == piano] == expected(TOP, 6)).all() and len(windows[ids == piano]) == 5
    for s, z in got.items():                                 # a file's windows all sit in its own split
        for i in set(z["tune_ids"].tolist()):
            rel = files[i].relative_to(folder).as_posix()
            assert midi.split_of(rel) == s


def test_prepare_resumes_and_rereads_a_changed_file(folder, tmp_path, capsys):
    out = tmp_path / "data"
    first = midi.prepare(folder, out, jobs=1)
    parts = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    assert len(parts) == 4
    again = midi.prepare(folder, out, jobs=1)                 # nothing to read: every file is cached
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()} == parts
    assert again["train_crc"] == first["train_crc"] and again["valid_crc"] == first["valid_crc"]
    write(folder / "song.mid", [LEAD[:32]])                   # edited: 4 bars now
    third = midi.prepare(folder, out, jobs=1)
    total = sum(third[f"{s}_windows"] for s in ("train", "valid", "test"))
    assert total == 3 + 5
    err = capsys.readouterr().err
    assert "read MIDI (4 files)" in err


def test_progress_counts_bytes(tmp_path):
    from export.data import FileProgress

    small, big = tmp_path / "s", tmp_path / "b"
    small.write_bytes(b"x" * 1024)
    big.write_bytes(b"x" * 9 * 1024)
    stream = io.StringIO()
    bar = FileProgress([small, big], "read", stream=stream)
    bar.bar.every = 0.0
    bar.update(big)
    assert "9/10 kB" in stream.getvalue() and "90.0%" in stream.getvalue()   # one file of two, 90 % of the work
    resumed = FileProgress([small, big], "read", done={str(big)}, stream=io.StringIO())
    assert resumed.bar.done == 9 and resumed.bar.total == 10


def test_a_folder_is_required_and_must_hold_midi(tmp_path):
    r = subprocess.run([sys.executable, "-m", "export", "data", "prepare", "midi"], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "data prepare midi needs a folder of your MIDI files" in r.stderr
    (tmp_path / "empty").mkdir()
    r = prepare(tmp_path / "empty", tmp_path / "out")
    assert r.returncode == 2 and "no .mid or .midi files under" in r.stderr
    r = prepare(tmp_path / "nothing", tmp_path / "out")
    assert r.returncode == 2 and "is not a folder of MIDI files" in r.stderr


def test_fine_tune_the_shipped_model_on_the_prepared_folder(folder, tmp_path):
    """prepare -> train --data --init (2 steps): the run starts from the shipped weights and reads this folder."""
    pytest.importorskip("torch", reason="training needs the train extra")
    import json

    from bridge.runtime import default_models_dir

    shipped = default_models_dir() / "musicvae-mel2bar"
    if not (shipped / "manifest.json").is_file():
        pytest.skip("the shipped MusicVAE is absent")
    data = tmp_path / "mine"
    assert prepare(folder, data).returncode == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "export", "train", "musicvae-mel2bar", "--data", str(data), "--init",
                        str(shipped), "--steps", "2", "--threads", "1", "--run-dir", str(tmp_path / "run")],
                       capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    from export import checkpoints

    state = checkpoints.load(checkpoints.latest_checkpoint(tmp_path / "run"))
    cfg = state["config"]
    assert cfg["dataset"] == str(data) and cfg["model_name"] == "musicvae-mel2bar-mine"   # never the shipped name
    assert cfg["lr"] == 3e-4 and cfg["extra"]["init"] == str(shipped) and state["step"] == 2
    first = next(h for h in json.loads((tmp_path / "run" / "history.json").read_text()) if h["kind"] == "train")
    assert first["tf_acc"] > 0.7          # trained weights from the first step (a fresh model scores ~0.02)
    # the shipped folder and the fine-tuned run, averaged (cmt-bridge average takes a model folder), export
    soup = tmp_path / "soup" / "model.pt"
    run = checkpoints.latest_checkpoint(tmp_path / "run")
    r = subprocess.run([sys.executable, "-m", "export", "average", str(shipped), str(run), "-o", str(soup)],
                       capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    import torch

    from export.musicvae.weights import checkpoint_from_folder

    start, mean = checkpoint_from_folder(shipped)["model"], checkpoints.load(soup)["model"]
    moved = [k for k in mean if not torch.equal(start[k], state["model"][k])]
    assert moved and all(torch.allclose(mean[k], (start[k] + state["model"][k]) / 2, atol=1e-5) for k in mean)
    r = subprocess.run([sys.executable, "-m", "export", "export-onnx", str(soup), "-o", str(tmp_path / "soup-model")],
                       capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    made = json.loads((tmp_path / "soup-model" / "manifest.json").read_text())
    assert made["training"]["config"]["model_name"] == "musicvae-mel2bar-mine"
    r = subprocess.run([sys.executable, "-m", "export", "train", "cmt-tiny", "--init", str(shipped), "--steps", "1"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert r.returncode == 2 and "cmt training takes no --init" in r.stderr

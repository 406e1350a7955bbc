"""``cmt-bridge visualize`` end to end in its own process on a short FluidSynth render: the MP4 decodes
(PyAV), has its audio, one frame per 1/fps; the contact sheet, the schedule and the stills are written;
the same seed gives the same video. Bad input: silence makes a calm video, a non-audio file and an
unwritable path get one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from visuals_fixture import music_clip

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def visualize(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", "visualize", *args], env=ENV, capture_output=True,
                          text=True, timeout=300)


def decode(path: Path) -> tuple[np.ndarray, float, float]:
    """(frames [n, h, w, 3], video fps, audio seconds) of an MP4."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        fps = float(v.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(v)])
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        samples = sum(f.samples for f in c.decode(a))
        audio_s = samples / a.rate
    return frames, fps, audio_s


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return music_clip(tmp_path_factory.mktemp("clip") / "clip.wav", seconds=4.0)


def test_a_video_with_its_audio_sheet_schedule_and_stills(tmp_path, clip):
    import soundfile

    seconds = soundfile.info(str(clip)).duration
    out = tmp_path / "out" / "clip.mp4"
    r = visualize(str(clip), "-o", str(out), "--size", "96", "--fps", "12", "--seed", "4",
                  "--schedule", str(tmp_path / "prompts.txt"), "--stills", "2", "--text")
    assert r.returncode == 0, r.stderr
    frames, fps, audio_s = decode(out)
    assert fps == pytest.approx(12.0)
    assert len(frames) == int(round(seconds * 12))
    assert frames.shape[1:] == (96, 96, 3)
    assert audio_s == pytest.approx(seconds, abs=0.1)
    assert frames.std() > 5 and np.abs(np.diff(frames.astype(float), axis=0)).mean() > 0.1   # pictures that move
    assert "visualize clip.wav [" in r.stderr                        # the progress bar
    from PIL import Image

    sheet = Image.open(out.with_suffix(".sheet.png"))
    assert sheet.width > 4 * 200
    schedule = json.loads((tmp_path / "prompts.txt").read_text())
    assert "0" in schedule and all(p.startswith("an image evoking") for p in schedule.values())
    stills = json.loads((out.parent / "clip.stills.json").read_text())
    assert len(stills) == 2 and all((out.parent / s["file"]).is_file() and s["sentence"] for s in stills)
    assert Image.open(out.parent / stills[0]["file"]).size == (1024, 1024)


def test_same_seed_same_video_other_seed_other_video(tmp_path, clip):
    runs = {}
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        r = visualize(str(clip), "-o", str(tmp_path / f"{name}.mp4"), "--size", "64", "--fps", "8",
                      "--seed", seed, "--sheet", "")
        assert r.returncode == 0, r.stderr
        runs[name] = decode(tmp_path / f"{name}.mp4")[0].astype(float)
    assert np.abs(runs["a"] - runs["b"]).mean() < 0.5
    assert np.abs(runs["a"] - runs["c"]).mean() > 5
    assert not (tmp_path / "a.sheet.png").exists()


def test_silence_gives_a_calm_video(tmp_path):
    import soundfile

    wav = tmp_path / "quiet.wav"
    soundfile.write(str(wav), np.zeros(3 * 22050, np.float32), 22050)
    r = visualize(str(wav), "-o", str(tmp_path / "q.mp4"), "--size", "64", "--fps", "10")
    assert r.returncode == 0, r.stderr
    assert "silence; a calm video" in r.stderr
    frames, _, _ = decode(tmp_path / "q.mp4")
    change = np.abs(np.diff(frames.astype(float), axis=0)).mean(axis=(1, 2, 3))
    assert len(frames) == 30 and frames.std() > 2 and change.max() < 3.0     # a picture, slowly drifting


@pytest.mark.parametrize("case", ["text", "missing", "folder", "unwritable", "suffix", "size"])
def test_bad_input_gets_one_line(tmp_path, clip, case):
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio at all\n" * 50)
    args = {"text": [str(bad), "-o", str(tmp_path / "v.mp4")],
            "missing": [str(tmp_path / "nope.wav"), "-o", str(tmp_path / "v.mp4")],
            "folder": [str(clip), "-o", str(tmp_path)],
            "unwritable": [str(clip), "-o", "/proc/cmt-bridge/v.mp4"],
            "suffix": [str(clip), "-o", str(tmp_path / "v.gif")],
            "size": [str(clip), "-o", str(tmp_path / "v.mp4"), "--size", "3"]}[case]
    r = visualize(*args)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "v.mp4").exists()

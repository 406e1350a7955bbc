"""``cmt-bridge tag`` end to end in its own process, on the fixture model (hand-set weights: plumbing, not
quality): JSON rows over time, the sentence, the heat map, the progress bar; bad input gets one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tagger_fixture import LOUD_SENTENCE, QUIET_SENTENCE, RATE, TAGS, make_tagger_folder, tone

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_tagger_folder(tmp_path_factory.mktemp("tagger"))


def tag(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", "tag", *args], env=ENV, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def write(path: Path, x: np.ndarray, rate: int = 44100) -> Path:
    import soundfile

    soundfile.write(str(path), np.stack([x, 0.5 * x], axis=1), rate)
    return path


def test_tags_over_time_sentence_and_picture(tmp_path, model):
    from PIL import Image

    # 3 s loud, then 3 s quiet, stereo FLAC at 44.1 kHz (the model wants mono 8 kHz: decoded and resampled)
    x = np.concatenate([tone(3.0, 44100, 0.6), tone(3.0, 44100, 0.01)])
    audio = write(tmp_path / "take.flac", x)
    r = tag(str(audio), "--model", str(model), "-o", str(tmp_path / "out.json"), "--hop", "0.5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    doc = json.loads((tmp_path / "out.json").read_text())
    assert lines == [doc["sentence"], str(tmp_path / "out.json"), str(tmp_path / "out.png")]
    rows = doc["windows"]
    assert [w["start"] for w in rows] == [i * 0.5 for i in range(11)] and rows[-1]["end"] == 6.0
    assert doc["sample_rate"] == RATE and doc["window_seconds"] == 1.0 and doc["hop_seconds"] == 0.5
    assert rows[0]["tags"]["dynamics"] == ["loud"] and rows[-1]["tags"]["dynamics"] == ["soft"]
    assert set(rows[0]["probabilities"]) == set(TAGS)
    assert rows[0]["tags"]["instrument"] == ["strings", "piano"]
    # the sentence is built from the pooled probabilities
    assert doc["sentence"] in (LOUD_SENTENCE, QUIET_SENTENCE)
    pooled = np.mean([[w["probabilities"][t] for t in TAGS] for w in rows], axis=0)
    assert abs(pooled[TAGS.index("loud")] - doc["probabilities"]["loud"]) < 1e-3
    img = Image.open(tmp_path / "out.png")
    assert img.format == "PNG" and img.width > 300 and img.height > 400


def test_prompt_style_and_json_on_stdout(tmp_path, model):
    audio = write(tmp_path / "loud.wav", tone(2.0, 22050, 0.5), 22050)
    r = tag(str(audio), "--model", str(model), "-o", "-", "--style", "prompt", "--picture", "")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["sentence"] == r.stderr.strip().splitlines()[-1]
    assert doc["sentence"].startswith("an image evoking " + LOUD_SENTENCE + ", ")
    assert not list(tmp_path.glob("*.png"))


def test_default_outputs_land_in_the_working_folder(tmp_path, model):
    (tmp_path / "in").mkdir()
    audio = write(tmp_path / "in" / "song.ogg", tone(1.5, 16000, 0.1), 16000)
    work = tmp_path / "work"
    work.mkdir()
    r = tag(str(audio), "--model", str(model), "--threshold", "0.99", cwd=work)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "a piece of music"     # every tag needs 0.99 now
    assert (work / "song.tags.json").is_file() and (work / "song.tags.png").is_file()


def test_silence_noise_and_a_short_file(tmp_path, model):
    r = tag(str(write(tmp_path / "silence.wav", np.zeros(4 * 44100, np.float32))), "--model", str(model),
            "-o", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "silence"
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["silence"] and doc["tags"] == {} and all(w["silent"] and w["tags"] == {} for w in doc["windows"])
    noise = np.random.default_rng(1).normal(0, 0.3, 3 * 44100).astype(np.float32)
    r = tag(str(write(tmp_path / "noise.wav", noise)), "--model", str(model), "-o", str(tmp_path / "n.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "n.json").read_text())["silence"] is False
    r = tag(str(write(tmp_path / "short.wav", tone(0.2, 44100))), "--model", str(model),
            "-o", str(tmp_path / "short.json"))
    assert r.returncode == 0, r.stderr
    assert "0.20 s is shorter than one 1 s window; padded with silence" in r.stderr
    assert json.loads((tmp_path / "short.json").read_text())["padded"] is True


@pytest.mark.parametrize("case", ["not audio", "missing", "out folder missing", "out is a folder", "bad hop",
                                  "bad threshold", "no model"])
def test_bad_input_gets_one_line(tmp_path, model, case):
    audio = write(tmp_path / "a.wav", tone(1.0, 44100))
    (tmp_path / "readme.txt").write_text("not audio\n" * 100)
    args, expect = {
        "not audio": ([str(tmp_path / "readme.txt"), "-o", str(tmp_path / "o.json")], "not a readable audio file"),
        "missing": ([str(tmp_path / "nope.wav"), "-o", str(tmp_path / "o.json")], "no such audio file"),
        "out folder missing": ([str(audio), "-o", str(tmp_path / "no" / "o.json")], "does not exist"),
        "out is a folder": ([str(audio), "-o", str(tmp_path)], "is a folder"),
        "bad hop": ([str(audio), "--hop", "0"], "--hop must be > 0"),
        "bad threshold": ([str(audio), "--threshold", "piano=2"], "P must be in range 0..1"),
        "no model": ([str(audio), "-o", str(tmp_path / "o.json")], "no tagger model in"),
    }[case]
    r = tag(*args, *([] if case == "no model" else ["--model", str(model)]),
            *(["--model", str(tmp_path / "none")] if case == "no model" else []))
    assert r.returncode == 2, r
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o.json").exists()


def test_a_long_file_shows_progress(tmp_path, model):
    audio = write(tmp_path / "long.wav", tone(12.0, 8000, 0.3), 8000)
    r = tag(str(audio), "--model", str(model), "--hop", "0.25", "-o", str(tmp_path / "l.json"))
    assert r.returncode == 0, r.stderr
    assert "tagging long.wav [" in r.stderr and "45/45 windows" in r.stderr and "100.0%" in r.stderr


def test_help_teaches_with_examples():
    r = subprocess.run([sys.executable, "-m", "bridge", "tag", "--help"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0
    assert "cmt-bridge tag song.wav" in r.stdout and "--style prompt" in r.stdout and "an image evoking" in r.stdout

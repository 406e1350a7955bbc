"""`cmt-bridge midime sample | interpolate | learn` end to end, in a subprocess, on the real ONNX MusicVAE."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bridge.errors import InputError
from bridge.events import Note
from bridge.midifile import read_notes, write_notes
from bridge.runtime import default_models_dir
from plugins.midime.vae import MODEL_NAME

ROOT = Path(__file__).resolve().parent.parent
MODELS = default_models_dir()


@pytest.fixture(scope="module", autouse=True)
def model_present():
    if not (MODELS / MODEL_NAME / "manifest.json").is_file():
        pytest.skip(f"{MODELS / MODEL_NAME} is absent: the MusicVAE model is exported by `cmt-bridge export-onnx "
                    f"musicvae-mel2bar` (or point CMT_BRIDGE_MODELS at a folder holding {MODEL_NAME}/)")


def midime(*args: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CMT_BRIDGE_MODELS=str(MODELS), PYTHONPATH=str(ROOT), **extra)
    return subprocess.run([sys.executable, "-m", "plugins.midime", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def folk_like(path: Path, bars: int, base: int) -> Path:
    shape = (0, 2, 4, 0, 7, 5, 4, 2, 0, 4, 7, 12, 7, 4, 2, 0)
    notes = [Note(base + shape[(i + bars) % 16], 90, i * 0.5, 0.5) for i in range(bars * 8)]
    return write_notes(path, notes)


def test_sample_writes_midi_and_one_png(tmp_path):
    r = midime("sample", "-n", "5", "--temperature", "0.8", "-o", "out", "--seed", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("sample_0*.mid")) == [f"sample_0{i}.mid" for i in range(1, 6)]
    assert Image.open(out / "sample.png").size[0] > 300
    for p in out.glob("sample_0*.mid"):
        try:
            notes = read_notes(p)
        except InputError as e:  # an all-rest sample is a valid file with no notes
            assert "no notes" in str(e)
            continue
        assert all(0 <= n.start < 8.0 and 48 <= n.pitch <= 96 for n in notes)
    again = midime("sample", "-n", "5", "--temperature", "0.8", "-o", "out2", "--seed", "3", cwd=tmp_path)
    assert again.returncode == 0
    assert (out / "sample_all.mid").read_bytes() == (tmp_path / "out2" / "sample_all.mid").read_bytes()


def test_interpolate_two_files(tmp_path):
    a, b = folk_like(tmp_path / "a.mid", 4, 62), folk_like(tmp_path / "b.mid", 2, 69)
    r = midime("interpolate", str(a), str(b), "--steps", "4", "-o", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["interpolation.png", "interpolation_01.mid", "interpolation_02.mid", "interpolation_03.mid",
                     "interpolation_04.mid", "interpolation_all.mid"]


def test_learn_then_sample_personal(tmp_path):
    files = [str(folk_like(tmp_path / f"m{i}.mid", 4, 60 + i)) for i in range(4)]
    r = midime("learn", *files, "-o", "mine.midime", "--epochs", "200", "--seed", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "learning 12 windows" in r.stderr and "200/200 epochs 100.0%" in r.stderr
    d = json.loads((tmp_path / "mine.midime").read_text())
    assert d["base_model"]["name"] == json.loads((MODELS / MODEL_NAME / "manifest.json").read_text())["name"]
    assert d["training"]["sources"] == [f"m{i}.mid" for i in range(4)]
    assert (tmp_path / "mine.png").is_file() and (tmp_path / "mine_samples.mid").is_file()
    r = midime("sample", "--personal", "mine.midime", "-n", "3", "-o", "p", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p" / "sample.png").is_file()


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    chords = write_notes(tmp_path / "chords.mid", [Note(p, 90, b * 4.0, 4.0) for b in range(4) for p in (60, 64, 67)])
    short = folk_like(tmp_path / "short.mid", 2, 60)
    (tmp_path / "junk.mid").write_bytes(b"not midi at all")
    cases = {
        ("learn", str(chords), "-o", "x.midime"): "chords.mid is polyphonic: MidiMe needs a single melody line",
        ("learn", str(short), "-o", "x.midime"): "too few bars to learn from in short.mid (2 bars, 16 notes)",
        ("interpolate", str(tmp_path / "junk.mid"), str(short)): "junk.mid: not a readable MIDI file",
        ("sample", "--model", str(tmp_path)): f"no MusicVAE model in {tmp_path} (pass --model DIR",
        ("sample", "--temperature", "3"): "--temperature must be in range 0..2",
    }
    for args, message in cases.items():
        r = midime(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, r.stderr)
    assert not (tmp_path / "x.midime").exists()


def test_personal_model_of_another_base_is_refused(tmp_path):
    from plugins.midime.midime import MidiMe
    import numpy as np

    MidiMe.learn(np.random.default_rng(0).standard_normal((4, 8)), "some-other-vae", "1" * 64,
                 epochs=3).save(tmp_path / "old.midime")
    r = midime("sample", "--personal", "old.midime", "-o", "o", cwd=tmp_path)
    assert r.returncode == 2 and "old.midime was learned on some-other-vae" in r.stderr


def test_through_the_host_cli_when_present(tmp_path):
    exe = ROOT / ".venv" / "bin" / "cmt-bridge"
    if not exe.exists() or not (ROOT / "bridge" / "cli.py").exists():
        pytest.skip("bridge/cli.py and the cmt-bridge entry point are not installed yet (H2)")
    env = dict(os.environ, CMT_BRIDGE_MODELS=str(MODELS))
    r = subprocess.run([str(exe), "midime", "sample", "-n", "2", "-o", "out"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "sample.png").is_file()


def test_learn_into_the_menu_list_it_and_sample_it_by_name(tmp_path):
    files = [str(folk_like(tmp_path / f"m{i}.mid", 4, 60 + i)) for i in range(3)]
    xdg = tmp_path / "xdg"

    def run(*args):
        return midime(*args, cwd=tmp_path, XDG_CONFIG_HOME=str(xdg))

    r = run("styles")
    assert r.returncode == 0 and "no personal models yet" in r.stdout
    r = run("learn", *files, "--name", "reels", "--epochs", "50", "--seed", "1")
    assert r.returncode == 0, r.stderr
    assert (xdg / "cmt-bridge" / "midime" / "reels.midime").is_file()
    r = run("styles")
    assert "reels  (9 windows from m0.mid, m1.mid, m2.mid)" in r.stdout
    r = run("learn", *files, "--name", "reels", "--epochs", "50")
    assert r.returncode == 2 and "already has a model 'reels'" in r.stderr
    r = run("sample", "--personal", "reels", "-n", "2", "-o", "p", "--seed", "2")
    assert r.returncode == 0, r.stderr
    r = run("sample", "--personal", "jigs", "-n", "2", "-o", "q")
    assert r.returncode == 2 and "no personal model 'jigs' (the menu: reels)" in r.stderr

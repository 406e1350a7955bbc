"""``cmt-bridge cmt video2midi`` end to end on the shipped model: a multi-track .mid as long as the
video, one named track + channel + GM program per instrument, a piano roll, a FluidSynth+ffmpeg render."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from bridge.midifile import read_tracks
from bridge.runtime import default_models_dir
from clips import moving_texture, still_then_moving
from plugins.cmt import tokens as T

MODEL = default_models_dir() / "cmt"
ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bridge", "cmt", *args], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})}, timeout=300)


def test_video2midi_writes_aligned_tracks_and_a_piano_roll(tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=8.0)
    out = tmp_path / "clip.mid"
    r = cli("video2midi", str(clip), "-o", str(out), "--bars", "4", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert "generating 4 bars" in r.stderr and "4/4 bars" in r.stderr
    mid = mido.MidiFile(out)
    tempo = next(m.tempo for m in mid.tracks[0] if m.type == "set_tempo")
    bpm = mido.tempo2bpm(tempo)
    assert abs(bpm - 120.0) < 0.01                 # 4 bars of 4/4 in 8 s
    tracks = read_tracks(out)
    assert tracks and set(tracks) <= {i.name for i in T.INSTRUMENTS}
    by_name = {i.name: i for i in T.INSTRUMENTS}
    for name, notes in tracks.items():
        assert {n.channel for n in notes} == {by_name[name].channel}
        assert max(n.end for n in notes) <= 16.0 + 1e-6       # nothing after the video's end
    programs = {m.channel: m.program for t in mid.tracks for m in t if m.type == "program_change"}
    for name in tracks:
        if name != "drums":
            assert programs[by_name[name].channel] == by_name[name].program
    assert mido.MidiFile(out).length == pytest.approx(8.0, abs=0.6) or mid.length <= 8.0 + 1e-6


def test_same_seed_same_file(tmp_path):
    clip = moving_texture(tmp_path / "c.mp4", [4] * 80)
    a, b = tmp_path / "a.mid", tmp_path / "b.mid"
    for o in (a, b):
        assert cli("video2midi", str(clip), "-o", str(o), "--seed", "9").returncode == 0
    assert read_tracks(a) == read_tracks(b)


@pytest.mark.skipif(shutil.which("fluidsynth") is None or shutil.which("ffmpeg") is None,
                    reason="needs fluidsynth and ffmpeg")
def test_render_muxes_audio_with_the_video(tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=4.0)
    out = tmp_path / "music.mp4"
    r = cli("video2midi", str(clip), "-o", str(tmp_path / "m.mid"), "--bars", "2", "--seed", "1", "--render", str(out))
    assert r.returncode == 0, r.stderr
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(out)],
                           capture_output=True, text=True, check=True)
    kinds = sorted(s["codec_type"] for s in json.loads(probe.stdout)["streams"])
    assert kinds == ["audio", "video"]


def test_render_without_fluidsynth_says_what_to_install(tmp_path):
    clip = still_then_moving(tmp_path / "clip.mp4", seconds=4.0)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ffmpeg").symlink_to(shutil.which("ffmpeg") or "/bin/true")
    r = cli("video2midi", str(clip), "-o", str(tmp_path / "m.mid"), "--bars", "2", "--render",
            str(tmp_path / "x.mp4"), env={"PATH": str(bindir)})
    assert r.returncode == 2
    assert "fluidsynth" in r.stderr and "apt install" in r.stderr
    assert (tmp_path / "m.mid").is_file()          # the MIDI file is kept


@pytest.mark.parametrize("setup,args,match", [
    ("missing", [], "no video file"),
    ("text", [], "video"),
    ("ok", ["--control", "3"], "--control"),
    ("ok", ["--bars", "0"], "--bars"),
])
def test_bad_input_is_one_line(tmp_path, setup, args, match):
    clip = tmp_path / "clip.mp4"
    if setup == "text":
        clip.write_text("not a video")
    elif setup == "ok":
        moving_texture(clip, [2] * 40)
    r = cli("video2midi", str(clip), "-o", str(tmp_path / "o.mid"), *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len([ln for ln in lines if "error:" in ln]) == 1
    import re

    assert re.search(match, lines[-1], re.I), lines


def test_help_teaches():
    r = cli("video2midi", "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "--render" in r.stdout and "channel" in r.stdout


def test_live_with_a_missing_camera_says_so_and_keeps_playing(tmp_path):
    r = cli("live", "--camera", "9", "--api", "none", "--seconds", "3", "--no-record", "--osc-port", "0",
            env={"CMT_BRIDGE_DISABLE": "midime,transcription"})
    assert r.returncode == 0, r.stderr
    assert "no camera 9" in r.stderr and "playing: cmt" in r.stderr


def test_live_with_a_missing_video_is_one_line():
    r = cli("live", "--video", "/nope/clip.mp4")
    assert r.returncode == 2 and "no video file" in r.stderr


def test_live_plays_a_video_whose_path_has_a_comma(tmp_path):
    clip = moving_texture(tmp_path / "take 1, final.mp4", [6] * 60)
    r = cli("live", "--video", str(clip), "--api", "none", "--seconds", "3", "--no-record", "--osc-port", "0",
            env={"CMT_BRIDGE_DISABLE": "midime,transcription"})
    assert r.returncode == 0, r.stderr
    assert "video take 1, final.mp4" in r.stderr


def test_outputs_are_never_lost_and_the_seed_is_printed_and_stored(tmp_path):
    clip = moving_texture(tmp_path / "c.mp4", [3] * 60)
    out = tmp_path / "c.mid"
    r = cli("video2midi", str(clip), "-o", str(out), "--bars", "2")
    assert r.returncode == 0, r.stderr
    seed = int(next(line for line in r.stderr.splitlines() if line.startswith("seed ")).split()[1])
    texts = [m.text for t in mido.MidiFile(out).tracks for m in t if m.type == "text"]
    assert texts == [f"seed {seed}"]
    first = out.read_bytes()
    r = cli("video2midi", str(clip), "-o", str(out), "--bars", "2", "--seed", str(seed))
    assert r.returncode == 2 and "already exists: pass --force" in r.stderr and out.read_bytes() == first
    r = cli("video2midi", str(clip), "-o", str(out), "--bars", "2", "--seed", str(seed), "--force")
    assert r.returncode == 0 and read_tracks(out) == read_tracks(tmp_path / "c.mid")
    before = clip.read_bytes()
    r = cli("video2midi", str(clip), "-o", str(tmp_path / "d.mid"), "--render", str(clip), "--force")
    assert r.returncode == 2 and "is an input of this command" in r.stderr
    assert clip.read_bytes() == before and not (tmp_path / "d.mid").exists()


def test_the_piano_roll_counts_the_notes_the_file_has(tmp_path):
    from plugins.cmt.video2midi import video_to_midi
    from bridge.runtime import ModelBundle
    from plugins.cmt.sampling import EXPECT

    clip = moving_texture(tmp_path / "c.mp4", [6] * 80)
    bundle = ModelBundle.load(MODEL, threads=1, expect=EXPECT)
    path, _, notes = video_to_midi(bundle, clip, tmp_path / "c.mid", bars=3, seed=2)
    in_file = sum(len(v) for v in read_tracks(path).values())
    assert sum(len(v) for v in notes.values()) == in_file     # what the title and legend count


@pytest.mark.skipif(shutil.which("fluidsynth") is None or shutil.which("ffmpeg") is None,
                    reason="needs fluidsynth and ffmpeg")
def test_render_mixes_the_clips_own_audio(tmp_path):
    silent = still_then_moving(tmp_path / "v.mp4", seconds=4.0)
    clip = tmp_path / "clip.mp4"          # the clip with its own sound: a 3 kHz tone the music never plays
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=3000:duration=4", "-c:v", "copy", "-c:a", "aac", "-shortest", str(clip)], check=True)

    def tone_level(video: Path) -> float:
        import numpy as np

        raw = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(video), "-ac", "1", "-ar", "16000", "-f",
                              "f32le", "-"], capture_output=True, check=True).stdout
        x = np.frombuffer(raw, np.float32)
        spec = np.abs(np.fft.rfft(x))
        freqs = np.fft.rfftfreq(len(x), 1 / 16000)
        return float(spec[(freqs > 2990) & (freqs < 3010)].mean() / (spec.mean() + 1e-9))

    for mix, name in ((0.0, "dry.mp4"), (0.8, "mixed.mp4")):
        r = cli("video2midi", str(clip), "-o", str(tmp_path / f"{name}.mid"), "--bars", "2", "--seed", "1",
                "--render", str(tmp_path / name), *(["--mix", str(mix)] if mix else []))
        assert r.returncode == 0, r.stderr
    assert tone_level(tmp_path / "mixed.mp4") > 4 * tone_level(tmp_path / "dry.mp4")
    r = cli("video2midi", str(clip), "-o", str(tmp_path / "x.mid"), "--mix", "0.5")
    assert r.returncode == 2 and "--mix needs --render" in r.stderr

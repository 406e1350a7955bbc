"""Held-out music for the visuals benchmark: generated pieces rendered by the FluidSynth CLI.

Each piece is drawn from a seed: a tempo (60..170 BPM), a key and mode, a chord
progression, an arrangement (two to four General MIDI programs from different
families, optionally a drum kit on channel 10), a rhythm density and dynamics.
Nothing here was seen by the tagger in training (it learnt music21 corpus
renders through FluidR3/TimGM6mb); the default soundfont is MuseScore_General,
which the tagger never heard.

    render_piece(seed, Path("piece.wav"), seconds=20.0)   # -> the WAV, 22050 Hz stereo
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SOUNDFONTS = ("/usr/share/sounds/sf3/MuseScore_General.sf3", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2")
FAMILIES = {"piano": [0, 1, 4], "strings": [40, 48, 49], "brass": [56, 61], "woodwind": [68, 71, 73],
            "guitar": [24, 25, 27], "organ": [16, 19], "synth_pad": [88, 89, 91], "bass": [32, 33, 38]}
PROGRESSIONS = ([0, 5, 3, 4], [0, 3, 4, 0], [0, 4, 5, 3], [5, 3, 0, 4], [0, 2, 3, 4])
MAJOR, MINOR = [0, 2, 4, 5, 7, 9, 11], [0, 2, 3, 5, 7, 8, 10]


def soundfont() -> str | None:
    return next((s for s in SOUNDFONTS if Path(s).is_file()), None)


def piece_notes(seed: int, seconds: float) -> tuple[float, list[tuple[int, int]], list[tuple[float, float, int, int, int]]]:
    """(bpm, [(channel, program)], notes as (start s, end s, pitch, velocity, channel)) of piece ``seed``."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(60, 170))
    spb = 60.0 / bpm
    scale = MAJOR if rng.random() < 0.5 else MINOR
    root = 48 + int(rng.integers(0, 12))
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    fams = list(rng.choice(list(FAMILIES), size=int(rng.integers(2, 4)), replace=False))
    channels = [(i, int(rng.choice(FAMILIES[f]))) for i, f in enumerate(fams)]
    drums = rng.random() < 0.6
    loud = int(rng.integers(60, 120))
    sub = int(rng.choice([1, 2, 2, 4]))          # melody notes per beat
    notes: list[tuple[float, float, int, int, int]] = []
    beats = int(seconds / spb)
    for b in range(beats):
        t = b * spb
        degree = prog[(b // 4) % len(prog)]
        chord = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        if b % 2 == 0:     # the chord part on channel 0, every two beats
            for c in chord:
                notes.append((t, t + 2 * spb * 0.95, root + c, loud - 10, 0))
        for s in range(sub):     # the melody on channel 1
            if rng.random() < 0.8:
                deg = int(rng.integers(0, 7))
                st = t + s * spb / sub
                notes.append((st, st + spb / sub * float(rng.uniform(0.4, 0.95)), root + 12 + scale[deg],
                              int(np.clip(loud + rng.integers(-15, 10), 20, 127)), 1 % len(channels)))
        if len(channels) > 2 and b % 4 == 0:
            notes.append((t, t + 4 * spb * 0.9, root - 12 + chord[0], loud, 2))
        if drums:
            notes.append((t, t + 0.1, 36 if b % 2 == 0 else 38, min(127, loud + 5), 9))
            for h in range(2):
                notes.append((t + h * spb / 2, t + h * spb / 2 + 0.05, 42, loud - 20, 9))
    return bpm, channels, notes


def write_midi(path: Path, bpm: float, channels: list[tuple[int, int]], notes: list) -> Path:
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=int(60e6 / bpm)))
    events = [(0.0, mido.Message("program_change", channel=c, program=p)) for c, p in channels]
    for st, en, pitch, vel, ch in notes:
        events.append((st, mido.Message("note_on", channel=ch, note=int(pitch), velocity=int(vel))))
        events.append((en, mido.Message("note_off", channel=ch, note=int(pitch), velocity=0)))
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    now = 0.0
    for t, msg in events:
        ticks = int(round((t - now) * bpm / 60.0 * 480))
        track.append(msg.copy(time=max(0, ticks)))
        now += max(0, ticks) / 480 * 60.0 / bpm
    mid.save(str(path))
    return path


def render_piece(seed: int, out: Path, seconds: float = 20.0, font: str | None = None, rate: int = 22050) -> Path:
    """Render piece ``seed`` to the WAV ``out`` with the fluidsynth CLI; RuntimeError without it."""
    font = font or soundfont()
    exe = shutil.which("fluidsynth")
    if exe is None or font is None:
        raise RuntimeError("fluidsynth and a GM soundfont are needed (apt-get install fluidsynth "
                           "musescore-general-soundfont-small)")
    bpm, channels, notes = piece_notes(seed, seconds)
    with tempfile.TemporaryDirectory() as tmp:
        mid = write_midi(Path(tmp) / "piece.mid", bpm, channels, notes)
        subprocess.run([exe, "-ni", "-g", "0.8", "-F", str(out), "-r", str(rate), font, str(mid)],
                       check=True, capture_output=True, timeout=120)
    return out

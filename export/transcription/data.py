"""Paired audio/label data for the cross-modal transcription model, rendered with FluidSynth.

For each split of the folk melodies (``data/folk/{train,valid,test}.npz``,
split by tune, so test tunes never reach training) and each of the paper's five
instruments, 2-bar windows (one per tune, in a seeded order) become short
clips: random tempo (80..150 BPM), per-clip dynamic level with per-note jitter
(velocity 30..127), articulation (70..97 % of the written length) and register
(a random transposition folded into the instrument's range). Clips are laid
end to end with 0.6 s of silence between them, rendered as one MIDI file per
chunk of :data:`CLIPS_PER_CHUNK` clips with each soundfont of :data:`FONTS`
(FluidR3 and TimGM6mb for every split, MuseScore General Lite for test only, so
the benchmark also measures a timbre never heard in training; each soundfont
gets its own tunes and performances), and stored as one npz per chunk::

    data/transcription/<split>/<instrument>_<chunk>[_<soundfont>].npz   (no suffix: FluidR3)
        spec     float16 [T, N_BINS]  log-frequency spectrum (plugins/transcription/features.py)
        pitch    int16   [T]          sounding MIDI pitch per frame, -1 = silence
        onset    uint8   [T]          1 on the frame nearest to each note-on
        velocity uint8   [T]          velocity of the sounding note (0 in silence)
        notes    float32 [n, 4]       start s, end s, pitch, velocity (the reference)
    test chunks also keep their audio: <instrument>_<chunk>.wav (for the benchmark)

Deterministic (seeded by split, instrument, soundfont and chunk) and resumable: existing
chunks are skipped. ``cmt-bridge data prepare transcription`` runs it.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np

from bridge.errors import BridgeError
from bridge.events import Note
from plugins.midime.melody import PHRASE_BEATS, notes_from_tokens
from plugins.transcription import features
from plugins.transcription.audio import SAMPLE_RATE, read_audio
from plugins.transcription.labels import INSTRUMENTS, Instrument

from ..data import data_root

log = logging.getLogger(__name__)

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: soundfonts by short name: the first two are rendered for every split, "musescore" only for test
#: (a timbre the model never hears in training); missing ones are skipped with a warning
SOUNDFONTS = {"fluidr3": (SOUNDFONT, "fluid-soundfont-gm"),
              "timgm6mb": (Path("/usr/share/sounds/sf2/TimGM6mb.sf2"), "timgm6mb-soundfont"),
              "musescore": (Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
                            "musescore-general-soundfont-small")}
FONTS = {"train": ("fluidr3", "timgm6mb"), "valid": ("fluidr3", "timgm6mb"),
         "test": ("fluidr3", "timgm6mb", "musescore")}
CLIPS_PER_CHUNK = 25
CHUNKS = {"train": 16, "valid": 1, "test": 2}
GAP_SECONDS = 0.6
BPM_RANGE = (80.0, 150.0)
VERSION = "transcription-v1"


def data_dir() -> Path:
    return data_root() / "transcription"


def _rng(*key: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(":".join(map(str, (VERSION, *key))).encode()))


def choose_windows(folk: Path, split: str, count: int, seed_key: str) -> np.ndarray:
    """``count`` windows of ``split``, each from a different tune while tunes last, in a seeded order."""
    d = np.load(folk / f"{split}.npz")
    windows, tunes = d["windows"], d["tune_ids"]
    rng = _rng("windows", split, seed_key)
    order = rng.permutation(len(windows))
    first: dict[int, int] = {}
    for i in order:
        first.setdefault(int(tunes[i]), int(i))
    picked = list(first.values())
    rng.shuffle(picked)
    chosen = set(picked)
    rest = [int(i) for i in order if int(i) not in chosen]
    return windows[(picked + rest)[:count]]


def fit_register(pitches: list[int], inst: Instrument, rng: np.random.Generator) -> int:
    """A transposition (semitones) that puts the line inside the instrument's register."""
    lo, hi = min(pitches), max(pitches)
    shift = int(rng.integers(-6, 7))
    while lo + shift < inst.low:
        shift += 12
    while hi + shift > inst.high and lo + shift - 12 >= inst.low:
        shift -= 12
    return shift


def clip_notes(tokens: np.ndarray, inst: Instrument, rng: np.random.Generator, t0: float) -> tuple[list, float]:
    """Notes of one clip in seconds from ``t0``: (start, end, pitch, velocity) and the clip's length in s."""
    spb = 60.0 / rng.uniform(*BPM_RANGE)
    base = int(rng.integers(40, 116))
    legato = rng.uniform(0.70, 0.97)
    line = notes_from_tokens(tokens)
    shift = fit_register([n.pitch for n in line], inst, rng)
    out = []
    for n in line:
        pitch = min(max(n.pitch + shift, inst.low), inst.high)
        velocity = int(np.clip(base + rng.integers(-10, 11), 30, 127))
        start = t0 + n.start * spb
        out.append((start, start + max(0.05, n.duration * spb * legato), pitch, velocity))
    return out, PHRASE_BEATS * spb


def chunk_name(inst: Instrument, chunk: int, font: str = "fluidr3") -> str:
    return f"{inst.name}_{chunk:03d}" + ("" if font == "fluidr3" else f"_{font}")


def instrument_of(stem: str) -> str:
    """The instrument a chunk file belongs to (``alto_sax_003_timgm6mb`` -> ``alto_sax``)."""
    for name in sorted((i.name for i in INSTRUMENTS), key=len, reverse=True):
        if stem.startswith(name + "_"):
            return name
    raise BridgeError(f"{stem}: not a chunk of a known instrument")


def font_of(stem: str) -> str:
    tail = stem[len(instrument_of(stem)) + 1:].split("_", 1)
    return tail[1] if len(tail) > 1 else "fluidr3"


def render(notes: list[tuple], program: int, wav: Path, font: str = "fluidr3") -> np.ndarray:
    """FluidSynth renders ``notes`` (seconds) with GM ``program``; mono samples at SAMPLE_RATE."""
    from bridge.midifile import write_notes

    soundfont, package = SOUNDFONTS[font]
    if not soundfont.is_file():
        raise BridgeError(f"soundfont {soundfont} is missing (apt-get install {package})")
    fluidsynth = shutil.which("fluidsynth")
    if not fluidsynth:
        raise BridgeError("fluidsynth is not installed (apt-get install fluidsynth)")
    mid = wav.with_suffix(".mid")
    # 120 BPM: one beat = 0.5 s, so beats = 2 * seconds
    write_notes(mid, [Note(int(p), int(v), 2.0 * s, 2.0 * (e - s)) for s, e, p, v in notes], bpm=120.0,
                programs={0: program})
    subprocess.run([fluidsynth, "-ni", "-g", "1.0", "-r", str(SAMPLE_RATE), "-F", str(wav), str(soundfont),
                    str(mid)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mid.unlink()
    return read_audio(wav)


def frame_labels(notes: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Per-frame pitch (-1 silence), onset and velocity from reference notes in seconds."""
    pitch = np.full(frames, -1, np.int16)
    onset = np.zeros(frames, np.uint8)
    velocity = np.zeros(frames, np.uint8)
    times = np.arange(frames) / features.FRAME_RATE
    for start, end, p, v in notes:
        on = (times >= start) & (times < end)
        pitch[on], velocity[on] = int(p), int(v)
        i = int(round(start * features.FRAME_RATE))
        if i < frames:
            onset[i] = 1
    return {"pitch": pitch, "onset": onset, "velocity": velocity}


def render_chunk(folk: Path, split: str, inst: Instrument, chunk: int, out: Path, clips: int = CLIPS_PER_CHUNK,
                 chunks: int | None = None, font: str = "fluidr3") -> Path:
    """Render chunk ``chunk`` of ``split`` for ``inst`` (``chunks`` in the split, ``clips`` clips each)
    with soundfont ``font`` (each font gets its own tunes and its own random performance)."""
    path = out / split / f"{chunk_name(inst, chunk, font)}.npz"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    key = inst.name if font == "fluidr3" else f"{inst.name}:{font}"
    windows = choose_windows(folk, split, (chunks or CHUNKS[split]) * clips, key)
    rng = _rng("chunk", split, key, chunk)
    notes: list[tuple] = []
    t = 0.3
    for tokens in windows[chunk * clips:(chunk + 1) * clips]:
        clip, length = clip_notes(tokens, inst, rng, t)
        notes += clip
        t += length + GAP_SECONDS
    with tempfile.TemporaryDirectory(prefix="cmt-transcription-") as tmp:
        wav = Path(tmp) / "chunk.wav"
        samples = render(notes, inst.program, wav, font)
        if split == "test":
            shutil.copy(wav, path.with_suffix(".wav"))
    spec = features.log_spectrum(samples)
    ref = np.asarray(notes, np.float32)
    labels = frame_labels(ref, len(spec))
    tmp_path = path.with_name(path.stem + ".part.npz")
    np.savez_compressed(tmp_path, spec=spec.astype(np.float16), notes=ref, **labels)
    os.replace(tmp_path, path)
    return path


def prepare(folk: Path = Path("data/folk"), out: Path | None = None, splits=("train", "valid", "test"),
            chunks: dict[str, int] | None = None, clips: int = CLIPS_PER_CHUNK,
            fonts: tuple[str, ...] | None = None) -> dict:
    """Render every chunk (skipping finished ones) and write ``index.json``.

    ``fonts`` restricts the soundfonts (default :data:`FONTS` per split; missing soundfonts are skipped).
    """
    from bridge.progress import Progress

    out = out or data_dir()
    chunks = {**CHUNKS, **(chunks or {})}
    used: dict[str, list[str]] = {}
    for s in splits:
        for font in FONTS[s]:
            if fonts is not None and font not in fonts:
                continue
            if not SOUNDFONTS[font][0].is_file():
                log.warning("soundfont %s missing (apt-get install %s): not rendered", font, SOUNDFONTS[font][1])
                continue
            used.setdefault(s, []).append(font)
    jobs = [(s, f, inst, c) for s in splits for f in used.get(s, []) for inst in INSTRUMENTS for c in range(chunks[s])]
    done = sum((out / s / f"{chunk_name(i, c, f)}.npz").is_file() for s, f, i, c in jobs)
    bar = Progress(len(jobs), "render", done=done)
    for split, font, inst, chunk in jobs:
        if (out / split / f"{chunk_name(inst, chunk, font)}.npz").is_file():
            continue
        render_chunk(folk, split, inst, chunk, out, clips, chunks[split], font)
        bar.update(1, f"{split} {font} {inst.name} {chunk}")
    bar.close()
    index = {"version": VERSION, "source": "music21 folk windows (data/folk, split by tune) rendered with "
             "FluidSynth", "soundfonts": {s: f for s, f in used.items()},
             "soundfont_files": {k: str(v[0]) for k, v in SOUNDFONTS.items()},
             "sample_rate": SAMPLE_RATE, "hop": features.HOP, "clips_per_chunk": clips, "chunks": chunks,
             "instruments": {i.name: {"program": i.program, "register": [i.low, i.high]} for i in INSTRUMENTS}}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index

"""Paired audio/label data for the cross-modal transcription model, rendered with FluidSynth.

Two kinds of chunk, alternating in train and valid (even chunks folk, odd chunks varied):

- **folk**: for each split of the folk melodies (``data/folk/{train,valid,test}.npz``,
  split by tune, so test tunes never reach training) and each of the paper's five
  instruments, 2-bar windows (one per tune, in a seeded order) become short
  clips: random tempo (60..200 BPM), per-clip dynamic level with per-note jitter
  (velocity 30..127), articulation (70..97 % of the written length) and register
  (a random transposition folded into the instrument's range);
- **varied**: 8-second melodies of :mod:`export.transcription.melodies` (modes,
  whole-tone, blues and chromatic scales, leaps, fast runs, repeated and held
  notes, ranges up to three octaves, tempo 60..200, phrase-level velocity
  curves) in the instrument's register, from seeds below
  :data:`~export.transcription.melodies.BENCH_SEEDS` (the benches draw above it).

- **drill** (train chunks from :data:`DRILL_FROM` on): varied melodies drawn with
  ``melody(drill=True)``: fast repeated notes with short gaps and long held notes,
  high in a register reaching past the instrument's usual one (:data:`DRILL_REGISTER`),
  more often (what the flute missed off the folk tunes, and the alto sax's
  altissimo, which folk tunes reach).
  The chunks before them are unchanged by their addition.

In train and valid, clips of the four instruments that bend are played
expressively half of the time (vibrato 4.5..6.5 Hz, 8..45 cents, after a
delay; scoops into some notes, as pitch-bend events; the label stays the
written pitch), and 80 % of the chunks go through a random effect chain (room
reverb, shelving EQ, compression, noise at 25..50 dB SNR, gain: the tagger's
:func:`export.tagger.render.apply_effects`). Test chunks are folk, dry and
straight: the in-distribution condition of the bench.

Clips are laid end to end with 0.6 s of silence between them, rendered as one
MIDI file per chunk with each soundfont of :data:`FONTS` (five soundfonts for
train and valid: FluidR3, TimGM6mb, csound's sf_GMbank, the OPL3 FM bank and
FluidR3Mono; test renders FluidR3, TimGM6mb and MuseScore General Lite, the
last never heard in training (MuseScore's fonts are held out); each soundfont
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
              "csound": (Path("/usr/share/sounds/sf2/sf_GMbank.sf2"), "csound-soundfont"),
              "opl3": (Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"), "opl3-soundfont"),
              "fluidr3mono": (Path("/usr/share/sounds/sf3/FluidR3Mono_GM.sf3"), "fluidr3mono-gm-soundfont"),
              "musescore": (Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),
                            "musescore-general-soundfont-small")}
#: every soundfont Debian packages trains, except MuseScore's (held out: the unseen-timbre condition)
TRAIN_FONTS = ("fluidr3", "timgm6mb", "csound", "opl3", "fluidr3mono")
FONTS = {"train": TRAIN_FONTS, "valid": TRAIN_FONTS, "test": ("fluidr3", "timgm6mb", "musescore")}
#: how to get the training soundfonts Debian does not install with the set-up's defaults
FONTS_HINT = "CMT_BRIDGE_TRAINING_FONTS=1 bash scripts/setup.sh"


def missing_train_fonts(present) -> list[str]:
    """The :data:`TRAIN_FONTS` not among ``present`` (soundfont names), in their order."""
    return [f for f in TRAIN_FONTS if f not in set(present)]
CLIPS_PER_CHUNK = 25
VARIED_CLIPS = 12                 # 8-second melodies per varied chunk (about as long as 25 folk clips)
VARIED_SECONDS = 8.0
CHUNKS = {"train": 32, "valid": 2, "test": 2}
DRILL_FROM = 24                   # train chunks 24.. are drills (the first shipped model trained on 0..23)
#: drills reach past the register the other chunks keep to (what players reach: altissimo sax, a trumpet's
#: top, the violin's and the piano's extremes), inside the labels' and features' range: a tune written
#: for another instrument may go there (held-out folk tunes take the alto sax to 82)
DRILL_REGISTER = {"flute": (60, 98), "piano": (36, 100), "alto_sax": (49, 88), "trumpet": (52, 88),
                  "violin": (55, 100)}
GAP_SECONDS = 0.6
BPM_RANGE = (60.0, 200.0)
EXPRESSIVE = 0.5                  # share of clips (train/valid, not piano) played with vibrato and scoops
EFFECTS = 0.8                     # share of chunks (train/valid) through the effect chain
VERSION = "transcription-v2"


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


def chunk_kind(split: str, chunk: int) -> str:
    """``folk``, ``varied`` or ``drill``: train and valid alternate folk and varied, train ends with drills;
    test is folk (the in-distribution condition)."""
    if split == "train" and chunk >= DRILL_FROM:
        return "drill"
    return "varied" if split != "test" and chunk % 2 == 1 else "folk"


def chunk_number(stem: str) -> int:
    """``alto_sax_003_timgm6mb`` -> 3."""
    return int(stem[len(instrument_of(stem)) + 1:].split("_", 1)[0])


def varied_clip(seed: int, inst: Instrument, t0: float, drill: bool = False) -> tuple[list, float]:
    """One melody of :mod:`.melodies` in ``inst``'s register, from ``t0``; its notes and length in s."""
    from .melodies import BENCH_SEEDS, melody

    low, high = DRILL_REGISTER.get(inst.name, (inst.low, inst.high)) if drill else (inst.low, inst.high)
    m = melody(seed % BENCH_SEEDS, seconds=VARIED_SECONDS, low=low, high=high, drill=drill)
    notes = [(t0 + s, t0 + e, int(p), int(v)) for s, e, p, v in m["notes"]]
    return notes, max(e for _, e, _, _ in notes) - t0


def expressive_bends(notes: list[tuple], rng: np.random.Generator) -> list[tuple[float, int]]:
    """Pitch-wheel events (seconds, -8192..8191 for +-2 semitones) for a clip played expressively:
    delayed vibrato on notes longer than 0.25 s, and a scoop from below into some notes."""
    rate, depth = rng.uniform(4.5, 6.5), rng.uniform(8, 45)        # Hz, cents
    delay, scoop = rng.uniform(0.08, 0.25), rng.uniform(0.0, 0.35)  # s, share of notes scooped
    per_cent = 8192 / 200.0
    out = []
    for start, end, _, _ in notes:
        out.append((start, 0))
        if rng.random() < scoop:
            low, dur = -rng.uniform(30, 80), rng.uniform(0.03, 0.08)
            for t in np.arange(0.0, dur, 0.01):
                out.append((start + t, int(low * (1 - t / dur) * per_cent)))
            out.append((start + dur, 0))
        if end - start > 0.25:
            for t in np.arange(start + delay, end, 0.015):
                ramp = min(1.0, (t - start - delay) / 0.2)
                out.append((t, int(depth * ramp * np.sin(2 * np.pi * rate * (t - start - delay)) * per_cent)))
    return out


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


def write_bent_midi(path: Path, notes: list[tuple], program: int, bends: list[tuple[float, int]]) -> None:
    """One-channel MIDI of ``notes`` (seconds) with pitch-wheel events, at 120 BPM (960 ticks a second)."""
    import mido

    ev = [(s, 2, mido.Message("note_on", note=int(p), velocity=int(v))) for s, _, p, v in notes]
    ev += [(e, 0, mido.Message("note_off", note=int(p))) for _, e, p, _ in notes]
    ev += [(t, 1, mido.Message("pitchwheel", pitch=int(np.clip(b, -8192, 8191)))) for t, b in bends]
    ev.sort(key=lambda x: (x[0], x[1]))
    track = mido.MidiTrack([mido.Message("program_change", program=program)])
    now = 0
    for t, _, msg in ev:
        tick = int(round(t * 960))
        track.append(msg.copy(time=max(0, tick - now)))
        now = max(now, tick)
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(track)
    mid.save(str(path))


def render(notes: list[tuple], program: int, wav: Path, font: str = "fluidr3",
           bends: list[tuple[float, int]] | None = None) -> np.ndarray:
    """FluidSynth renders ``notes`` (seconds) with GM ``program`` (and pitch-wheel ``bends``: seconds,
    value); mono samples at SAMPLE_RATE."""
    from bridge.midifile import write_notes

    soundfont, package = SOUNDFONTS[font]
    if not soundfont.is_file():
        raise BridgeError(f"soundfont {soundfont} is missing (apt-get install {package})")
    fluidsynth = shutil.which("fluidsynth")
    if not fluidsynth:
        raise BridgeError("fluidsynth is not installed (apt-get install fluidsynth)")
    mid = wav.with_suffix(".mid")
    if bends:
        write_bent_midi(mid, notes, program, bends)
    else:   # 120 BPM: one beat = 0.5 s, so beats = 2 * seconds
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


def finished(path: Path) -> bool:
    """A chunk file rendered by this version (with its fast bands; older ones are rendered again, the same
    audio: every draw is seeded)."""
    if not path.is_file():
        return False
    try:
        with np.load(path) as d:
            return "bands" in d.files
    except (OSError, ValueError):
        return False


def render_chunk(folk: Path, split: str, inst: Instrument, chunk: int, out: Path, clips: int = CLIPS_PER_CHUNK,
                 chunks: int | None = None, font: str = "fluidr3") -> Path:
    """Render chunk ``chunk`` of ``split`` for ``inst`` (``chunks`` in the split, ``clips`` clips each)
    with soundfont ``font`` (each font gets its own tunes and its own random performance)."""
    path = out / split / f"{chunk_name(inst, chunk, font)}.npz"
    if finished(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    key = inst.name if font == "fluidr3" else f"{inst.name}:{font}"
    windows = choose_windows(folk, split, (chunks or CHUNKS[split]) * clips, key)
    rng = _rng("chunk", split, key, chunk)
    kind = chunk_kind(split, chunk)
    played = split != "test"          # expressive playing and effects: train and valid only
    notes: list[tuple] = []
    bends: list[tuple[float, int]] = []
    t = 0.3
    sources = (windows[chunk * clips:(chunk + 1) * clips] if kind == "folk"
               else [int(rng.integers(0, 2**62)) for _ in range(VARIED_CLIPS)])
    for src in sources:
        clip, length = (clip_notes(src, inst, rng, t) if kind == "folk"
                        else varied_clip(src, inst, t, drill=kind == "drill"))
        if played and inst.name != "piano" and rng.random() < EXPRESSIVE:
            bends += expressive_bends(clip, rng)
        notes += clip
        t += length + GAP_SECONDS
    with tempfile.TemporaryDirectory(prefix="cmt-transcription-") as tmp:
        wav = Path(tmp) / "chunk.wav"
        samples = render(notes, inst.program, wav, font, bends)
        if split == "test":
            shutil.copy(wav, path.with_suffix(".wav"))
    if played and rng.random() < EFFECTS:
        from ..tagger.render import apply_effects, effects_spec

        samples = apply_effects(samples.astype(np.float32), effects_spec(rng), rng)
    spec = features.log_spectrum(samples)
    bands = features.fast_bands(samples)
    ref = np.asarray(notes, np.float32)
    labels = frame_labels(ref, len(spec))
    tmp_path = path.with_name(path.stem + ".part.npz")
    np.savez_compressed(tmp_path, spec=spec.astype(np.float16), bands=bands.astype(np.float16), notes=ref, **labels)
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
                log.warning("soundfont %s missing (apt-get install %s, or %s): not rendered", font, SOUNDFONTS[font][1],
                            FONTS_HINT)
                continue
            used.setdefault(s, []).append(font)
    jobs = [(s, f, inst, c) for s in splits for f in used.get(s, []) for inst in INSTRUMENTS for c in range(chunks[s])]
    done = sum(finished(out / s / f"{chunk_name(i, c, f)}.npz") for s, f, i, c in jobs)
    bar = Progress(len(jobs), "render", done=done)
    for split, font, inst, chunk in jobs:
        if finished(out / split / f"{chunk_name(inst, chunk, font)}.npz"):
            continue
        render_chunk(folk, split, inst, chunk, out, clips, chunks[split], font)
        bar.update(1, f"{split} {font} {inst.name} {chunk}")
    bar.close()
    index = {"version": VERSION, "source": "music21 folk windows (data/folk, split by tune) and seeded varied "
             "melodies (export/transcription/melodies.py, seeds below BENCH_SEEDS) rendered with FluidSynth; "
             "train/valid: expressive pitch bends on half the clips, pedalboard effects on 80% of chunks", "soundfonts": {s: f for s, f in used.items()},
             "soundfont_files": {k: str(v[0]) for k, v in SOUNDFONTS.items()},
             "sample_rate": SAMPLE_RATE, "hop": features.HOP, "clips_per_chunk": clips, "chunks": chunks,
             "instruments": {i.name: {"program": i.program, "register": [i.low, i.high]} for i in INSTRUMENTS}}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return index

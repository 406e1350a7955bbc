"""Render one 3 s tagger clip from a piece: random orchestration, tempo, register, dynamics, articulation.

:func:`clip_spec` draws everything about a clip from a seeded generator
(parts kept, GM program per part from the instrument families, tempo 50..200
BPM, transposition and register shift, soft or loud velocities, legato or
staccato durations, an optional generated drum beat on channel 10, an effect
chain); :class:`Renderer` plays it through pyfluidsynth in-process (one loaded
soundfont per process) and applies the effects with pedalboard. Labels come
from the notes that sound inside the window (:mod:`.vocab`).
"""
from __future__ import annotations

import numpy as np

from . import vocab

SAMPLE_RATE = 16000
WINDOW_SECONDS = 3.0
N = int(SAMPLE_RATE * WINDOW_SECONDS)
BPM_RANGE = (50.0, 200.0)
PROGRAMS = {
    "piano": [0, 1, 2, 3, 4, 5, 6, 7], "strings": [40, 41, 42, 43, 44, 48, 49],
    "brass": [56, 57, 58, 59, 60, 61, 62, 63], "woodwind": [64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75],
    "guitar": [24, 25, 26, 27, 28, 29, 30], "bass": [32, 33, 34, 35, 36, 37, 38, 39],
    "organ": [16, 17, 18, 19, 20], "synth_pad": [88, 89, 90, 91, 92, 93, 94, 95],
}
RANGES = {"bass": (28, 60), "piano": (28, 100), "guitar": (40, 84), "strings": (36, 96), "brass": (40, 84),
          "woodwind": (48, 96), "organ": (36, 96), "synth_pad": (36, 96)}
ONE_CHANNEL = ("piano", "organ", "guitar", "synth_pad")  # families that may play every part alone (solo)


def _fold(p: float, lo: int, hi: int) -> float:
    while p < lo:
        p += 12
    while p > hi:
        p -= 12
    return p


def clip_spec(piece: dict, rng: np.random.Generator) -> dict | None:
    """Notes (start s, end s, pitch, velocity, channel), channel programs and stats of one clip; None if empty."""
    parts = piece["parts"]
    bpm = float(np.exp(rng.uniform(np.log(BPM_RANGE[0]), np.log(BPM_RANGE[1]))))
    spb = 60.0 / bpm
    beats = WINDOW_SECONDS / spb
    end_q = max(float(p[:, 0].max() + p[:, 1].max()) for p in parts)
    start_q = float(rng.uniform(0, max(0.0, end_q - beats * 0.8)))
    if len(parts) > 1 and rng.random() > 0.2:
        k = int(rng.integers(2, len(parts) + 1))
        keep = sorted(rng.choice(len(parts), size=k, replace=False).tolist())
    else:
        keep = [int(rng.integers(len(parts)))]
    # orchestration: one family on one channel (solo), one family for all parts, or mixed
    mean_p = [float(parts[i][:, 2].mean()) for i in keep]
    r = rng.random()
    if len(keep) > 1 and r < 0.15:
        fam = str(rng.choice(ONE_CHANNEL))
        fams, chans = [fam] * len(keep), [0] * len(keep)
    else:
        same = len(keep) > 1 and r < 0.4
        f0 = str(rng.choice(vocab.FAMILIES))
        fams = [f0 if same else str(rng.choice(vocab.FAMILIES)) for _ in keep]
        if len(keep) > 1 and not same and rng.random() < 0.5:
            fams[int(np.argmin(mean_p))] = "bass"
        chans = list(range(len(keep)))
    programs: dict[int, int] = {}
    for fam, ch in zip(fams, chans):
        programs.setdefault(ch, int(rng.choice(PROGRAMS[fam])))
    transpose = int(rng.integers(-5, 7)) + (12 * int(rng.choice([-1, 1])) if rng.random() < 0.3 else 0)
    loud = rng.random() < 0.5
    base_vel = float(rng.uniform(88, 120) if loud else rng.uniform(28, 60))
    staccato = rng.random() < 0.4
    notes = []
    for pi, fam, ch in zip(keep, fams, chans):
        lo, hi = RANGES[fam]
        for s, d, p in parts[pi]:
            if s + d <= start_q or s >= start_q + beats:
                continue
            t0 = max(0.0, (s - start_q) * spb)
            dur = d * spb * (rng.uniform(0.2, 0.4) if staccato else rng.uniform(0.95, 1.02))
            if staccato:
                dur = min(dur, 0.25)
            t1 = min(WINDOW_SECONDS + 0.5, (s - start_q) * spb + dur)
            if t1 - t0 < 0.03:
                continue
            vel = int(np.clip(base_vel + rng.integers(-8, 9), 1, 127))
            notes.append((t0, t1, _fold(p + transpose, lo, hi), vel, ch, fam))
    if len({n[0] for n in notes}) < 2:
        return None
    has_drums = len(keep) > 1 and rng.random() < 0.3 or (len(keep) == 1 and rng.random() < 0.1)
    drums = _beat(bpm, base_vel, rng) if has_drums else []
    inside = [n for n in notes if n[0] < WINDOW_SECONDS]
    starts = np.array([n[0] for n in inside])
    pitch = np.array([n[2] for n in inside])
    weight = np.array([min(n[1], WINDOW_SECONDS) - n[0] for n in inside])
    onset_rate = float(np.sum(starts > 0.0) + min(1, np.sum(starts == 0.0))) / WINDOW_SECONDS
    major, minor = vocab.key_correlations(pitch, weight)
    present = {n[5] for n in inside}
    n_instruments = len({(n[4]) for n in inside})
    stats = np.array([bpm, onset_rate, float(np.average(pitch, weights=weight)), base_vel, float(staccato),
                      major, minor, n_instruments, float(has_drums)], np.float32)
    families = np.array([f in present for f in vocab.FAMILIES], np.uint8)
    events = [(n[0], n[1], int(n[2]), n[3], n[4]) for n in notes] + drums
    return {"events": events, "programs": programs, "stats": stats, "families": families,
            "effects": effects_spec(rng), "piece": piece["id"]}


def _beat(bpm: float, base_vel: float, rng: np.random.Generator) -> list[tuple]:
    """A simple rock / half-time / shuffle beat on channel 9 (kick 36, snare 38, hats 42 or ride 51)."""
    spb = 60.0 / bpm
    style = int(rng.integers(3))
    hat = 42 if rng.random() < 0.7 else 51
    out = []
    for b8 in range(int(WINDOW_SECONDS / spb * 2) + 1):
        t = b8 * spb / 2 + (spb * 0.08 if style == 2 and b8 % 2 else 0.0)
        beat = b8 / 2
        v = int(np.clip(base_vel + rng.integers(-10, 6), 1, 127))
        out.append((t, t + 0.1, hat, max(1, v - 15), 9))
        if b8 % 2 == 0 and (beat % 4 in (0, 2) if style != 1 else beat % 4 == 0):
            out.append((t, t + 0.1, 36, v, 9))
        if b8 % 2 == 0 and (beat % 4 in (1, 3) if style != 1 else beat % 4 == 2):
            out.append((t, t + 0.1, 38, v, 9))
    return [e for e in out if e[0] < WINDOW_SECONDS]


def effects_spec(rng: np.random.Generator) -> dict:
    """Random effect parameters (applied with pedalboard): reverb, EQ, compression, noise, gain."""
    return {"reverb": float(rng.uniform(0.1, 0.9)) if rng.random() < 0.4 else None,
            "wet": float(rng.uniform(0.05, 0.3)),
            "low_shelf_db": float(rng.uniform(-6, 6)) if rng.random() < 0.4 else 0.0,
            "high_shelf_db": float(rng.uniform(-8, 4)) if rng.random() < 0.4 else 0.0,
            "compress": rng.random() < 0.25, "threshold_db": float(rng.uniform(-24, -10)),
            "noise_snr_db": float(rng.uniform(25, 50)) if rng.random() < 0.3 else None,
            "gain_db": float(rng.uniform(-4, 4))}


class Renderer:
    """pyfluidsynth in-process: one synth and one soundfont per process."""

    def __init__(self, soundfont: str, gain: float = 0.5) -> None:
        import fluidsynth

        self.fs = fluidsynth.Synth(gain=gain, samplerate=float(SAMPLE_RATE))
        self.sfid = self.fs.sfload(str(soundfont))
        if self.sfid < 0:
            raise RuntimeError(f"fluidsynth could not load {soundfont}")

    def render(self, spec: dict, rng: np.random.Generator) -> np.ndarray:
        """float32 [N] mono audio of a clip spec (effects applied)."""
        fs = self.fs
        for ch in range(16):
            fs.all_sounds_off(ch)
        fs.get_samples(2000)
        for ch, prog in spec["programs"].items():
            fs.program_select(ch, self.sfid, 0, prog)
        fs.program_select(9, self.sfid, 128, 0)
        ev = []
        for t0, t1, pitch, vel, ch in spec["events"]:
            ev.append((t0, 1, ch, pitch, vel))
            ev.append((t1, 0, ch, pitch, 0))
        ev.sort(key=lambda e: (e[0], e[1]))
        chunks, pos = [], 0
        for t, on, ch, pitch, vel in ev:
            at = min(int(round(t * SAMPLE_RATE)), N)
            if at > pos:
                chunks.append(fs.get_samples(at - pos))
                pos = at
            if pos >= N:
                break
            if on:
                fs.noteon(ch, pitch, vel)
            else:
                fs.noteoff(ch, pitch)
        if pos < N:
            chunks.append(fs.get_samples(N - pos))
        for ch in range(16):
            fs.all_notes_off(ch)
        st = np.concatenate(chunks).astype(np.float32).reshape(-1, 2)
        audio = st.mean(axis=1) / 32768.0
        return apply_effects(audio, spec["effects"], rng)


def apply_effects(audio: np.ndarray, fx: dict, rng: np.random.Generator) -> np.ndarray:
    import pedalboard as pb

    chain = []
    if fx["low_shelf_db"]:
        chain.append(pb.LowShelfFilter(cutoff_frequency_hz=250, gain_db=fx["low_shelf_db"]))
    if fx["high_shelf_db"]:
        chain.append(pb.HighShelfFilter(cutoff_frequency_hz=3000, gain_db=fx["high_shelf_db"]))
    if fx["reverb"] is not None:
        chain.append(pb.Reverb(room_size=fx["reverb"], wet_level=fx["wet"], dry_level=1.0 - fx["wet"]))
    if fx["compress"]:
        chain.append(pb.Compressor(threshold_db=fx["threshold_db"], ratio=3.0))
    chain.append(pb.Gain(gain_db=fx["gain_db"]))
    out = pb.Pedalboard(chain)(audio[None, :].astype(np.float32), SAMPLE_RATE)[0]
    if fx["noise_snr_db"] is not None:
        rms = float(np.sqrt(np.mean(out ** 2)) + 1e-9)
        out = out + rng.standard_normal(len(out)).astype(np.float32) * rms * 10 ** (-fx["noise_snr_db"] / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32)

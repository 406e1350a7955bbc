"""The host's own notes -> audio, in-process, for the tagger to hear.

:class:`FluidRenderer` plays them through FluidSynth (pyfluidsynth + a General
MIDI soundfont: the kind of audio the tagger was trained on), with each
channel's GM program (channel 10 as drums); :class:`SineRenderer` is the
fallback without FluidSynth: the transcription plugin's sine synthesizer (one
sine per note), which carries pitch, rhythm and dynamics but no timbre.

Both render a whole window from scratch (``render(notes, seconds)``, notes as
:class:`RenderNote` in seconds from the window start; a note that began
before the window starts at 0; events on FluidSynth's 64-sample grid, reverb
and chorus off): no tail of the previous window is heard. FluidSynth's result
still varies a little between calls (about -40 dB: its voices' modulation
phase), the sines' not at all.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bridge.api import InputError


log = logging.getLogger(__name__)

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf3/MuseScore_General.sf3",
              "/usr/share/sounds/sf3/default-GM.sf3")
ENV_SOUNDFONT = "CMT_BRIDGE_SOUNDFONT"
DRUM_CHANNEL = 9
GAIN = 1.0   # as `fluidsynth -g 1.0` renders the training audio
BLOCK = 64   # FluidSynth's block (samples): rendering whole blocks keeps every window on the same grid


@dataclass(frozen=True)
class RenderNote:
    start: float          # seconds from the window start (may be < 0: began before it)
    end: float
    pitch: int
    velocity: int
    channel: int = 0      # 0..15
    program: int | None = None


def find_soundfont(choice: str = "") -> Path | None:
    """``choice``, else ``$CMT_BRIDGE_SOUNDFONT``, else the first GM soundfont of :data:`SOUNDFONTS` on this machine."""
    for candidate in (choice, os.environ.get(ENV_SOUNDFONT, ""), *SOUNDFONTS):
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
        if candidate == choice and choice:
            raise InputError(f"soundfont {choice} does not exist")
    return None


class FluidRenderer:
    """FluidSynth in-process: one synth, reset before each window."""

    def __init__(self, rate: int, soundfont: Path) -> None:
        try:
            import fluidsynth
        except ImportError as e:   # pyfluidsynth raises ImportError when libfluidsynth is missing too
            raise InputError(f"FluidSynth in-process needs pyfluidsynth and libfluidsynth ({e})") from None
        self.rate = int(rate)
        # reverb and chorus off: a window is rendered from scratch, so it must not carry the last one's tail
        self.synth = fluidsynth.Synth(gain=GAIN, samplerate=float(self.rate),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            self.synth.delete()
            raise InputError(f"FluidSynth cannot load the soundfont {soundfont}")
        self.name = f"FluidSynth, {Path(soundfont).name}"

    def _samples(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, np.float32)
        stereo = np.asarray(self.synth.get_samples(n), np.float32).reshape(-1, 2)
        return stereo.mean(axis=1) / 32768.0

    def render(self, notes: Sequence[RenderNote], seconds: float) -> np.ndarray:
        total = int(round(seconds * self.rate))
        padded = -(-total // BLOCK) * BLOCK
        for ch in range(16):   # (system_reset after this was seen to bring the voices back: not used)
            self.synth.all_sounds_off(ch)
        for _ in range(8):     # the voices stop at the next rendered block: no tail of the previous window
            self._samples(BLOCK)
            if self.synth.get_active_voice_count() == 0:
                break
        for ch in sorted({n.channel for n in notes}):
            program = next((n.program for n in notes if n.channel == ch and n.program is not None), 0)
            bank = 128 if ch == DRUM_CHANNEL else 0
            self.synth.program_select(ch, self.sfid, bank, 0 if bank else int(program))
        events = []
        for n in notes:
            events.append((max(0.0, n.start), 1, n.channel, n.pitch, n.velocity))
            if n.end < seconds:
                events.append((max(0.0, n.end), 0, n.channel, n.pitch, 0))
        events.sort()
        parts, pos = [], 0
        for t, on, ch, pitch, velocity in events:
            at = min(padded, int(round(t * self.rate / BLOCK)) * BLOCK)   # events act on FluidSynth's blocks
            parts.append(self._samples(at - pos))
            pos = max(pos, at)
            if on:
                self.synth.noteon(ch, pitch, velocity)
            else:
                self.synth.noteoff(ch, pitch)
        parts.append(self._samples(padded - pos))
        return np.concatenate(parts).astype(np.float32)[:total]

    def close(self) -> None:
        self.synth.delete()


class SineRenderer:
    """Without FluidSynth: one sine per note, at the model's rate."""

    name = "sines (no FluidSynth)"

    def __init__(self, rate: int) -> None:
        self.rate = int(rate)

    def render(self, notes: Sequence[RenderNote], seconds: float) -> np.ndarray:
        """One sine per (non-drum) note at its pitch, amplitude from velocity, 10 ms ramps."""
        total = int(round(seconds * self.rate))
        out = np.zeros(total, np.float64)
        ramp = max(1, int(0.01 * self.rate))
        for n in notes:
            if n.channel == DRUM_CHANNEL:
                continue
            a, b = int(max(0.0, n.start) * self.rate), min(total, int(n.end * self.rate))
            if b <= a:
                continue
            k = np.arange(b - a)
            env = np.minimum(1.0, np.minimum(k, k[::-1]) / ramp)
            hz = 440.0 * 2.0 ** ((n.pitch - 69) / 12.0)
            out[a:b] += 0.3 * (n.velocity / 127.0) * env * np.sin(2 * np.pi * hz * k / self.rate)
        return out.astype(np.float32)

    def close(self) -> None:
        pass


def make_renderer(rate: int, soundfont: str = "") -> FluidRenderer | SineRenderer:
    """FluidSynth when pyfluidsynth, libfluidsynth and a soundfont are here; sines otherwise (logged)."""
    path = find_soundfont(soundfont)
    if path is None:
        log.warning("no GM soundfont found (apt install fluid-soundfont-gm); rendering the host's notes as sines")
        return SineRenderer(rate)
    try:
        return FluidRenderer(rate, path)
    except InputError as e:
        if soundfont:
            raise
        log.warning("%s; rendering the host's notes as sines", e)
        return SineRenderer(rate)

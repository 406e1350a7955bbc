"""Offline video -> multi-track MIDI (``cmt-bridge cmt video2midi``), and its audio/video rendering.

The video's bar grid sets the tempo (:func:`plugins.cmt.video.video_controls`);
bar by bar the :class:`plugins.cmt.sampling.BarSampler` generates music with the
video's density and strength; the result is one MIDI track per instrument class
on its own channel (drums on 10) with its General MIDI program, as long as the
video. :func:`render_video` plays the .mid through FluidSynth and muxes the audio
with the video (ffmpeg).
"""
from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from bridge.api import BridgeError, InputError, Note
from plugins.cmt import tokens as T
from plugins.cmt.sampling import BarSampler
from plugins.cmt.video import VideoControls, video_controls

log = logging.getLogger(__name__)


def compose(sampler: BarSampler, density: Sequence[int], strength: Sequence[int],
            progress=None) -> dict[str, list[Note]]:
    """Notes per instrument class in beats from the first bar line, one bar per control pair."""
    if len(density) != len(strength):
        raise ValueError("density and strength need one class per bar each")
    out: dict[str, list[Note]] = {}
    for b, (d, s) in enumerate(zip(density, strength)):
        notes, _ = sampler.bar(int(d), int(s))
        offset = b * sampler.beats_per_bar
        for name, part in notes.items():
            out.setdefault(name, []).extend(n.shifted(offset) for n in part)
        if progress is not None:
            progress(b + 1)
    return out


def write_tracks(out: str | Path, notes: dict[str, list[Note]], bpm: float, end: float,
                 beats_per_bar: float = 4.0) -> Path:
    """One track per instrument class on its own channel (drums 10) with its GM program, clipped at ``end`` beats."""
    from bridge.api import write_notes

    flat = [Note(n.pitch, n.velocity, n.start, min(n.duration, end - n.start), n.channel)
            for part in notes.values() for n in part if n.start < end]
    used = [i for i in T.INSTRUMENTS if i.name in notes]
    programs = {i.channel: i.program for i in used if i.name != "drums"}
    names = {i.channel: i.name for i in used}
    sig = (int(round(beats_per_bar * 2)), 8) if abs(beats_per_bar - round(beats_per_bar)) > 1e-6 \
        else (int(round(beats_per_bar)), 4)
    return write_notes(out, flat, bpm=bpm, programs=programs, names=names, time_signature=sig)


def video_to_midi(bundle, video: str | Path, out: str | Path, bars: int | None = None,
                  beats_per_bar: float = 4.0, seed: int | None = None, control: float = 1.0,
                  progress=None, controls: VideoControls | None = None,
                  **sampler_kw) -> tuple[Path, VideoControls, dict[str, list[Note]]]:
    """Write ``out`` (.mid) for ``video`` with the CMT model ``bundle``; returns (path, controls, notes).

    ``controls`` skips the video analysis when it was already done (``video_controls(video, ...)``).
    """
    c = controls if controls is not None else video_controls(video, beats_per_bar, bars)
    sampler = BarSampler.from_bundle(bundle, beats_per_bar=beats_per_bar, total_bars=c.bars, seed=seed,
                                     control=control, **sampler_kw)
    notes = compose(sampler, c.density, c.strength, progress)
    path = write_tracks(out, notes, c.bpm, c.bars * beats_per_bar, beats_per_bar)
    log.info("%s: %d bars at %.1f BPM, %d notes on %d tracks -> %s", video, c.bars, c.bpm,
             sum(len(v) for v in notes.values()), len(notes), path)
    return path, c, notes


SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/sounds/sf3/default-GM.sf3")


def find_soundfont(explicit: str | Path | None = None) -> Path:
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise InputError(f"soundfont {p} does not exist")
        return p
    for s in SOUNDFONTS:
        if Path(s).is_file():
            return Path(s)
    raise BridgeError("--render needs a General MIDI soundfont (apt install fluid-soundfont-gm, or pass --soundfont)")


def render_video(midi: Path, video: Path, out: Path, soundfont: str | Path | None = None) -> Path:
    """FluidSynth renders ``midi`` to audio; ffmpeg muxes it with ``video`` (video stream copied) into ``out``."""
    missing = [t for t in ("fluidsynth", "ffmpeg") if shutil.which(t) is None]
    if missing:
        raise BridgeError(f"--render needs {' and '.join(missing)} on PATH (Debian: apt install "
                          f"{' '.join('fluidsynth' if t == 'fluidsynth' else 'ffmpeg' for t in missing)}; "
                          f"macOS: brew install {' '.join('fluid-synth' if t == 'fluidsynth' else t for t in missing)})")
    sf = find_soundfont(soundfont)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    wav = out.with_name(out.stem + ".render.wav")
    r = subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.8", "-r", "44100", "-F", str(wav), str(sf), str(midi)],
                       capture_output=True, text=True)
    if r.returncode != 0 or not wav.is_file():
        raise BridgeError(f"fluidsynth failed: {(r.stderr or r.stdout).strip().splitlines()[-1:] or r.returncode}")
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    r = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-i", str(wav), "-map", "0:v:0",
                        "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-shortest", str(tmp)],
                       capture_output=True, text=True)
    wav.unlink(missing_ok=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BridgeError(f"ffmpeg failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    tmp.replace(out)
    return out

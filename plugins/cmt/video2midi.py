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
from typing import Callable, Sequence

from bridge.api import BridgeError, InputError, Note, merge_unisons
from plugins.cmt import tokens as T
from plugins.cmt.sampling import BarSampler
from plugins.cmt.video import VideoControls, video_controls

log = logging.getLogger(__name__)


def compose(sampler: BarSampler, density: Sequence[int], strength: Sequence[int],
            progress=None, arrange: Callable[[dict, int], dict] | None = None) -> dict[str, list[Note]]:
    """Notes per instrument class in beats from the first bar line, one bar per control pair.

    ``arrange(notes, strength)`` turns each sampled bar into what the parts play
    (:func:`plugins.cmt.parts.arrange`); the unisons left are merged once, here, for the file and the picture.
    """
    if len(density) != len(strength):
        raise ValueError("density and strength need one class per bar each")
    out: dict[str, list[Note]] = {}
    for b, (d, s) in enumerate(zip(density, strength)):
        notes, _ = sampler.bar(int(d), int(s))
        if arrange is not None:
            notes = arrange(notes, int(s))
        offset = b * sampler.beats_per_bar
        for name, part in notes.items():
            out.setdefault(name, []).extend(n.shifted(offset) for n in part)
        if progress is not None:
            progress(b + 1)
    return {name: merge_unisons(part) for name, part in out.items()}


def write_tracks(out: str | Path, notes: dict[str, list[Note]], bpm: float, end: float,
                 beats_per_bar: float = 4.0, text: Sequence[str] = ()) -> Path:
    """One track per part on its notes' channel (drums 10) with its GM program, clipped at ``end`` beats;
    ``text``: meta events (the seed)."""
    from bridge.api import write_notes

    flat = [Note(n.pitch, n.velocity, n.start, min(n.duration, end - n.start), n.channel)
            for part in notes.values() for n in part if n.start < end]
    programs, names = {}, {}
    for ins in T.INSTRUMENTS:
        for ch in sorted({n.channel for n in notes.get(ins.name, ())}):
            names[ch] = f"{names[ch]}+{ins.name}" if ch in names else ins.name
            if ins.name != "drums":
                programs.setdefault(ch, ins.program)
    sig = (int(round(beats_per_bar * 2)), 8) if abs(beats_per_bar - round(beats_per_bar)) > 1e-6 \
        else (int(round(beats_per_bar)), 4)
    return write_notes(out, flat, bpm=bpm, programs=programs, names=names, time_signature=sig, text=text)


def video_to_midi(bundle, video: str | Path, out: str | Path, bars: int | None = None,
                  beats_per_bar: float = 4.0, seed: int | None = None, control: float = 1.0,
                  progress=None, controls: VideoControls | None = None,
                  arrange: Callable[[dict, int], dict] | None = None,
                  **sampler_kw) -> tuple[Path, VideoControls, dict[str, list[Note]]]:
    """Write ``out`` (.mid) for ``video`` with the CMT model ``bundle``; returns (path, controls, notes).

    ``controls`` skips the video analysis when it was already done (``video_controls(video, ...)``);
    ``arrange`` as for :func:`compose` (default: the model's part rules at their defaults). The seed
    (``seed``, or a drawn one) is written into the file as a text meta event ``seed N``.
    """
    from plugins.cmt.parts import arrange as arrange_parts
    from plugins.cmt.parts import rules_from_manifest

    if arrange is None:
        rules = rules_from_manifest(bundle.manifest)
        arrange = lambda notes, strength: arrange_parts(notes, rules=rules, strength=strength,  # noqa: E731
                                                        beats_per_bar=beats_per_bar)
    c = controls if controls is not None else video_controls(video, beats_per_bar, bars)
    sampler = BarSampler.from_bundle(bundle, beats_per_bar=beats_per_bar, total_bars=c.bars, seed=seed,
                                     control=control, **sampler_kw)
    notes = compose(sampler, c.density, c.strength, progress, arrange)
    path = write_tracks(out, notes, c.bpm, c.bars * beats_per_bar, beats_per_bar,
                        text=[f"seed {seed}"] if seed is not None else [])
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


def has_audio(video: Path) -> bool:
    """True when ``video`` has an audio stream (ffprobe; False when it cannot tell)."""
    if shutil.which("ffprobe") is None:
        return False
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=index",
                        "-of", "csv=p=0", str(video)], capture_output=True, text=True)
    return r.returncode == 0 and bool(r.stdout.strip())


def render_video(midi: Path, video: Path, out: Path, soundfont: str | Path | None = None, mix: float = 0.0) -> Path:
    """FluidSynth renders ``midi`` to audio; ffmpeg muxes it with ``video`` (video stream copied) into ``out``.

    ``mix`` > 0 keeps the clip's own audio under the music at that gain (a clip without sound: music only,
    logged). ``out`` must not be ``video`` (checked by the command; refused here too).
    """
    from bridge.api import same_file

    if same_file(out, video):
        raise InputError(f"--render {out} is the input video: choose another name (it would be overwritten)")
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
    if mix > 0 and not has_audio(video):
        log.warning("%s has no audio to mix: music only", video)
        mix = 0.0
    if mix > 0:
        audio = ["-filter_complex", f"[0:a:0]volume={mix:g}[clip];[clip][1:a:0]amix=inputs=2:duration=longest:"
                                    f"normalize=0[mix]", "-map", "0:v:0", "-map", "[mix]"]
    else:
        audio = ["-map", "0:v:0", "-map", "1:a:0"]
    r = subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(video), "-i", str(wav), *audio,
                        "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-shortest", str(tmp)],
                       capture_output=True, text=True)
    wav.unlink(missing_ok=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BridgeError(f"ffmpeg failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    tmp.replace(out)
    return out

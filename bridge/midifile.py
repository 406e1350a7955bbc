"""Standard MIDI files in and out, in beats.

:func:`read_notes` turns every track of a ``.mid`` file into
:class:`~bridge.events.Note` s whose times are in beats (ticks / ticks per
beat), so they do not depend on the file's tempo map. :func:`write_notes`
writes one track and one channel per instrument, with program changes, and
always leaves a valid file (written to a temporary name, then renamed).
:func:`melody_notes` picks the one monophonic line a melody model can use.
"""
from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from .errors import ConfigError, InputError
from .events import Note

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # channel 10 for users
#: a note starting less than this many beats before another one ends is legato, not a chord
LEGATO_BEATS = 0.125
#: share of onsets that may overlap another sounding note before a line counts as polyphonic
POLYPHONY_LIMIT = 0.10


def _load(path: str | Path):
    import mido

    from .paths import input_file

    path = input_file(path, "MIDI file")
    try:
        return mido.MidiFile(str(path), clip=True)
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"{path}: not a readable MIDI file ({reason})") from None


def read_tempo(path: str | Path) -> float:
    """The first tempo of a MIDI file in BPM (120 when it sets none); InputError when unreadable."""
    import mido

    for track in _load(path).tracks:
        for msg in track:
            if msg.type == "set_tempo":
                return float(mido.tempo2bpm(msg.tempo))
    return 120.0


def read_tracks(path: str | Path) -> dict[str, list[Note]]:
    """Notes of ``path`` per voice: one entry per (track, channel) that has notes, in beats.

    Keys are ``"<track name or 'track N'>"`` (with ``" ch K"`` added when a
    track uses several channels). Raises InputError when the file is
    unreadable or holds no notes.
    """
    mid = _load(path)
    tpb = mid.ticks_per_beat or TICKS_PER_BEAT
    voices: dict[str, list[Note]] = {}
    for index, track in enumerate(mid.tracks):
        name = f"track {index + 1}"
        by_channel: dict[int, list[Note]] = defaultdict(list)
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "track_name" and msg.name.strip():
                name = msg.name.strip()
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)].append((tick, msg.velocity))
            elif msg.type in ("note_off", "note_on"):
                started = sounding.get((msg.channel, msg.note))
                if started:
                    on_tick, vel = started.pop(0)
                    by_channel[msg.channel].append(_note(msg.note, vel, on_tick, tick, tpb, msg.channel))
        for (channel, pitch), started in sounding.items():  # never released: end at the track's end
            for on_tick, vel in started:
                by_channel[channel].append(_note(pitch, vel, on_tick, tick, tpb, channel))
        for channel, notes in sorted(by_channel.items()):
            key = name if len(by_channel) == 1 else f"{name} ch {channel + 1}"
            while key in voices:
                key += "'"
            voices[key] = sorted(notes, key=lambda n: (n.start, n.pitch))
    if not voices:
        raise InputError(f"{path}: the MIDI file has no notes")
    return voices


def _note(pitch: int, velocity: int, on_tick: int, off_tick: int, tpb: int, channel: int) -> Note:
    duration = max(off_tick - on_tick, 1) / tpb
    return Note(pitch, max(1, velocity), on_tick / tpb, duration, channel)


def read_notes(path: str | Path) -> list[Note]:
    """Every note of every track of ``path``, in beats, sorted by start."""
    notes = [n for voice in read_tracks(path).values() for n in voice]
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.channel))


def merge_unisons(notes: Sequence[Note]) -> list[Note]:
    """The notes a MIDI track can hold: the same pitch struck twice on the same tick and channel is one
    note (the longer), and a repeat that starts while the same pitch still sounds ends the earlier one.

    The one place duplicates are merged: :func:`write_notes` and the piano roll both call it, so a
    picture counts the notes its .mid file has. Sorted by (start, pitch).
    """
    out: list[Note] = []
    last: dict[tuple[int, int], int] = {}   # (channel, pitch) -> index in out of its latest note
    for n in sorted(notes, key=lambda n: (n.start, n.pitch, -n.duration)):
        key = (n.channel, n.pitch)
        on = int(round(n.start * TICKS_PER_BEAT))
        if key in last:
            i = last[key]
            prev = out[i]
            prev_on = int(round(prev.start * TICKS_PER_BEAT))
            if prev_on == on:
                if n.end > prev.end:
                    out[i] = Note(prev.pitch, max(prev.velocity, n.velocity), prev.start, n.duration, prev.channel)
                continue
            if prev.end > n.start:
                out[i] = Note(prev.pitch, prev.velocity, prev.start, max(n.start - prev.start, 1.0 / TICKS_PER_BEAT),
                              prev.channel)
        last[key] = len(out)
        out.append(n)
    return out


def write_notes(path: str | Path, notes: Sequence[Note] | Mapping[str, Sequence[Note]], bpm: float = 120.0,
                programs: Mapping[str | int, int] | None = None, names: Mapping[int, str] | None = None,
                time_signature: tuple[int, int] = (4, 4), text: Sequence[str] = ()) -> Path:
    """Write a type-1 MIDI file: a tempo track, then one track per instrument.

    ``notes`` is a list (one track per channel used, keeping the notes'
    channels, so drums stay on channel 10; ``names`` maps channels 0..15 to
    track names) or ``{track name: notes}`` (each track gets its own channel,
    1, 2, ... skipping the drum channel 10). ``programs`` maps track names (or
    channels 0..15 for a list) to General MIDI programs 0..127.
    ``time_signature`` is (numerator, denominator), e.g. (3, 4). ``text`` lines go into the tempo
    track as text meta events (e.g. ``"seed 1234"``: what makes the music again). Unisons merge
    (:func:`merge_unisons`).
    """
    import mido

    if not 20.0 <= float(bpm) <= 300.0:
        raise ConfigError(f"bpm must be in range 20..300, got {bpm}")
    programs = dict(programs or {})
    tracks: list[tuple[str, int, list[Note]]] = []
    if isinstance(notes, Mapping):
        channels = [c for c in range(16) if c != DRUM_CHANNEL]
        if len(notes) > len(channels):
            raise ConfigError(f"at most {len(channels)} instrument tracks fit in a MIDI file, got {len(notes)}")
        for (name, voice), channel in zip(notes.items(), channels):
            tracks.append((str(name), channel, merge_unisons([_on_channel(n, channel) for n in voice])))
    else:
        by_channel: dict[int, list[Note]] = defaultdict(list)
        for n in notes:
            by_channel[n.channel].append(n)
        for channel, voice in sorted(by_channel.items()):
            tracks.append(((names or {}).get(channel, f"channel {channel + 1}"), channel, merge_unisons(voice)))

    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(float(bpm)), time=0))
    num, den = (int(x) for x in time_signature)
    if not (1 <= num <= 32 and den in (1, 2, 4, 8, 16, 32)):
        raise ConfigError(f"time signature must be n/d with n 1..32 and d a power of 2, got {num}/{den}")
    meta.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))
    for line in text:
        meta.append(mido.MetaMessage("text", text=str(line), time=0))
    meta.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(meta)
    for name, channel, voice in tracks:
        program = programs.get(name, programs.get(channel))
        mid.tracks.append(_track(name, channel, voice, program))

    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    mid.save(str(tmp))
    os.replace(tmp, path)
    return path


def _on_channel(n: Note, channel: int) -> Note:
    return n if n.channel == channel else Note(n.pitch, n.velocity, n.start, n.duration, channel)


def _track(name: str, channel: int, notes: Sequence[Note], program: int | None):
    import mido

    if program is not None and not 0 <= int(program) <= 127:
        raise ConfigError(f"program for {name} must be in range 0..127, got {program}")
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("track_name", name=name, time=0))
    if program is not None:
        track.append(mido.Message("program_change", channel=channel, program=int(program), time=0))
    # (tick, order, message): offs before ons at the same tick, so a repeated pitch re-strikes
    events: list[tuple[int, int, object]] = []
    last: dict[int, tuple[int, int]] = {}  # pitch -> (its latest on tick, index of its off event)
    for n in sorted(notes, key=lambda n: (n.start, n.pitch)):
        on = int(round(n.start * TICKS_PER_BEAT))
        off = max(on + 1, int(round(n.end * TICKS_PER_BEAT)))
        if n.pitch in last:
            prev_on, prev_i = last[n.pitch]
            prev_off, _, prev_msg = events[prev_i]
            if prev_on == on:  # the same pitch struck twice at once: one note, the longer
                events[prev_i] = (max(prev_off, off), 0, prev_msg)
                continue
            if prev_off > on:  # an overlapping repeat: end the earlier one where the new one starts
                events[prev_i] = (on, 0, prev_msg)
        events.append((on, 1, mido.Message("note_on", channel=channel, note=n.pitch, velocity=n.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=channel, note=n.pitch, velocity=0)))
        last[n.pitch] = (on, len(events) - 1)
    events.sort(key=lambda e: (e[0], e[1]))
    now = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def polyphony(notes: Sequence[Note]) -> float:
    """Share of onsets that start while another note of ``notes`` still sounds (legato overlaps excepted)."""
    ordered = sorted(notes, key=lambda n: (n.start, n.pitch))
    if len(ordered) < 2:
        return 0.0
    overlapping = 0
    latest_end = -1.0
    for i, n in enumerate(ordered):
        chord = (i > 0 and abs(ordered[i - 1].start - n.start) < 1e-6) or \
                (i + 1 < len(ordered) and abs(ordered[i + 1].start - n.start) < 1e-6)
        if chord or latest_end - n.start > LEGATO_BEATS:
            overlapping += 1
        latest_end = max(latest_end, n.end)
    return overlapping / len(ordered)


def melody_notes(notes: Sequence[Note] | Mapping[str, Sequence[Note]], source: str = "the input") -> list[Note]:
    """The melody line of ``notes``: the voice (track or channel) with the most notes, made monophonic.

    Drums (channel 10) never count as a melody. Raises InputError when there is
    no melodic note, or when the chosen voice plays chords (more than 10% of
    its onsets overlap another sounding note). Legato overlaps are cut so
    each note ends where the next begins.
    """
    if isinstance(notes, Mapping):
        voices = {k: [n for n in v if n.channel != DRUM_CHANNEL] for k, v in notes.items()}
    else:
        grouped: dict[str, list[Note]] = defaultdict(list)
        for n in notes:
            if n.channel != DRUM_CHANNEL:
                grouped[f"channel {n.channel + 1}"].append(n)
        voices = dict(grouped)
    voices = {k: v for k, v in voices.items() if v}
    if not voices:
        raise InputError(f"{source} has no usable melody: no notes outside the drum channel 10")
    name, line = max(voices.items(), key=lambda kv: len(kv[1]))
    share = polyphony(line)
    if share > POLYPHONY_LIMIT:
        where = f" ({name})" if len(voices) > 1 else ""
        raise InputError(f"{source} is polyphonic: MidiMe needs a single melody line (one note at a time); "
                         f"{share:.0%} of the {len(line)} notes{where} start while another sounds "
                         f"(at most {POLYPHONY_LIMIT:.0%} allowed)")
    ordered = sorted(line, key=lambda n: (n.start, -n.pitch))
    mono: list[Note] = []
    for n in ordered:
        if mono and abs(mono[-1].start - n.start) < 1e-6:
            continue  # same onset: keep the highest pitch
        if mono and mono[-1].end > n.start:
            p = mono[-1]
            mono[-1] = Note(p.pitch, p.velocity, p.start, n.start - p.start, p.channel)
        mono.append(n)
    return mono

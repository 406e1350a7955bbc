"""The session recorder: every MIDI message the transport sent, written as a .mid file.

Messages are kept with their host beat (the beat of their send time), so the
file lines up with the host's bars; tempo changes become set_tempo meta events.
The file starts at the bar line at or before the first message.

The file is type 1: a conductor track (name, tempo changes), then one track per
MIDI channel used, named after the generators that played on it and their
instrument ("cmt strings ch 2", "midime ch 6"; "channel N" when nobody said,
"drums" on channel 10) and starting with the instrument's General MIDI program
where the generator declares one (``Generator.voices``). A GM synth plays it
back with the right sounds; a DAW that imports it (Live, Logic, Reaper) puts each
instrument -- CMT's strings, bass, lead; MidiMe's melody -- on its own track.
A phrase's text (its seed: ``seed 1234``, as ``midime sample`` writes it) is a
text meta event at the phrase's start in its channel's track (:meth:`Recorder.text`).

The tracks are encoded incrementally as messages arrive (they arrive in time
order; one that would go back in time is placed at the previous tick), so
rewriting the file costs one ``write`` of bytes already made — it never holds
up the output loop, however long the session. (mido's ``MidiFile.save`` takes
tens of milliseconds per thousand messages; the tests read the files with mido.)

The file is always valid: it is written to a temporary file and renamed over the
target (atomic), and every snapshot closes notes still sounding at its end, so
a crash between two writes leaves the previous complete file. The transport
rewrites it every few seconds and on stop / panic / close / SIGTERM.
"""
from __future__ import annotations

import logging
import math
import os
import struct
import threading
from pathlib import Path

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 480
WRITE_INTERVAL_S = 3.0
TEMPO_RESOLUTION_BPM = 0.05  # smaller tempo changes are not written
_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _name_event(name: str) -> bytes:
    """Delta 0 + a track-name meta event."""
    text = name.encode("ascii", "replace")
    return b"\x00\xff\x03" + _varlen(len(text)) + text


def _tempo_event(bpm: float) -> bytes:
    micros = max(1, min(0xFFFFFF, int(round(60_000_000 / bpm))))
    return b"\xff\x51\x03" + micros.to_bytes(3, "big")


class Recorder:
    """Collect ``(beat, message)`` pairs and write them to ``path`` as a type-1 MIDI file, a track per channel."""

    def __init__(self, path: Path | str, bpm: float = 120.0, beats_per_bar: int = 4,
                 ticks_per_beat: int = TICKS_PER_BEAT) -> None:
        self.path = Path(path)
        self.ticks_per_beat = ticks_per_beat
        self.beats_per_bar = beats_per_bar
        self._bpm = float(bpm)
        self._origin: float | None = None      # host beat of tick 0
        self._start_bpm = self._bpm
        self._conductor = bytearray()                  # tempo changes
        self._tracks: dict[int, bytearray] = {}          # channel 0..15 -> its events
        self._track_tick: dict[int | None, int] = {None: 0}  # last tick per track (None: conductor)
        self._last_tick = 0                              # last tick of the whole file
        self._count = 0
        self._sounding: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()
        self._dirty = False
        self._written_at = float("-inf")
        self._players: dict[int, list[str]] = {}         # channel -> generators heard on it, in order
        self._voices: dict[tuple[str, int], tuple[str, int | None]] = {}  # (generator, channel) -> instrument

    def __len__(self) -> int:
        return self._count

    def add(self, beat: float, message) -> None:
        """Record one channel message (note on/off, CC, ...) at host ``beat``; others are ignored."""
        data = bytes(int(b) & 0xFF for b in message)
        if not data or not 0x80 <= data[0] < 0xF0 or len(data) != 1 + _DATA_BYTES[data[0] & 0xF0]:
            return  # clock / system messages are not part of the music; malformed ones are not written
        with self._lock:
            if self._origin is None:
                self._origin = math.floor(beat / self.beats_per_bar + 1e-9) * self.beats_per_bar
                self._start_bpm = self._bpm  # the tempo in force at the first message starts the file
            self._append(beat, data, data[0] & 0x0F)
            self._count += 1
            key = (data[0] & 0x0F, data[1])
            if data[0] & 0xF0 == 0x90 and data[2] > 0:
                self._sounding[key] = self._sounding.get(key, 0) + 1
            elif data[0] & 0xF0 in (0x80, 0x90) and self._sounding.get(key):
                self._sounding[key] -= 1
            self._dirty = True

    def text(self, beat: float, channel: int, text: str) -> None:
        """A text meta event (e.g. a phrase's ``"seed 1234"``) at host ``beat`` in ``channel``'s track."""
        data = str(text).encode("ascii", "replace")[:255]
        with self._lock:
            if self._origin is None:
                self._origin = math.floor(beat / self.beats_per_bar + 1e-9) * self.beats_per_bar
                self._start_bpm = self._bpm
            self._append(beat, b"\xff\x01" + _varlen(len(data)) + data, int(channel) & 0x0F)
            self._dirty = True

    def player(self, channel: int, generator: str) -> None:
        """Say that ``generator`` plays on ``channel`` (0..15): the channel's track is named after it."""
        with self._lock:
            names = self._players.setdefault(int(channel) & 0x0F, [])
            if generator not in names:
                names.append(str(generator))

    def voice(self, channel: int, generator: str, name: str, program: int | None = None) -> None:
        """``generator`` plays instrument ``name`` (GM ``program``, 0..127) on ``channel`` when it plays there."""
        with self._lock:
            self._voices[(str(generator), int(channel) & 0x0F)] = (str(name), program)

    def _program(self, channel: int) -> int | None:
        for gen in self._players.get(channel, ()):
            program = self._voices.get((gen, channel), ("", None))[1]
            if program is not None:
                return program
        return None

    def _track_name(self, channel: int) -> str:
        who = "+".join(f"{gen} {self._voices[(gen, channel)][0]}" if (gen, channel) in self._voices else gen
                       for gen in self._players.get(channel, ()))
        if channel == 9:
            return who if who.endswith("drums") else f"{who} drums".strip()
        return f"{who} ch {channel + 1}" if who else f"channel {channel + 1}"

    def tempo(self, beat: float, bpm: float) -> None:
        """Record a tempo change at ``beat``."""
        with self._lock:
            if abs(bpm - self._bpm) < TEMPO_RESOLUTION_BPM:
                return  # a followed clock wobbles; positions are in beats anyway
            self._bpm = float(bpm)
            if self._origin is None:
                return  # nothing recorded yet: the file simply starts at this tempo
            self._append(beat, _tempo_event(bpm), None)
            self._dirty = True

    def _append(self, beat: float, event: bytes, channel: int | None) -> None:
        tick = max(self._last_tick, int(round((beat - self._origin) * self.ticks_per_beat)))
        if channel is None:
            track = self._conductor
        elif channel not in self._tracks:
            track = self._tracks[channel] = bytearray()
            self._track_tick[channel] = 0
        else:
            track = self._tracks[channel]
        track += _varlen(tick - self._track_tick[channel]) + event
        self._track_tick[channel] = tick
        self._last_tick = tick

    def maybe_write(self, now: float) -> bool:
        """Write when something changed and WRITE_INTERVAL_S passed since the last write (``now`` monotonic s)."""
        if self._dirty and now - self._written_at >= WRITE_INTERVAL_S:
            self.write()
            self._written_at = now
            return True
        return False

    def write(self) -> Path:
        """Write the file now (atomically); returns its path."""
        with self._lock:
            first_tempo = self._start_bpm if self._origin is not None else self._bpm
            end = self._last_tick + 1                    # every track ends one tick after the last event
            chunks = [_name_event("cmt-bridge") + b"\x00" + _tempo_event(first_tempo) + bytes(self._conductor)
                      + _varlen(end - self._track_tick[None]) + b"\xff\x2f\x00"]
            for channel in sorted(self._tracks):
                closing = bytearray()
                delta = end - self._track_tick[channel]
                for note in sorted(n for (c, n), count in self._sounding.items() if c == channel
                                   for _ in range(count)):
                    closing += _varlen(delta) + bytes((0x80 | channel, note, 0))  # still sounding: closed
                    delta = 0
                program = self._program(channel)
                patch = b"" if program is None or channel == 9 else b"\x00" + bytes((0xC0 | channel, program))
                chunks.append(_name_event(self._track_name(channel)) + patch + bytes(self._tracks[channel])
                              + bytes(closing) + _varlen(delta) + b"\xff\x2f\x00")
            self._dirty = False
        header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), self.ticks_per_beat)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(header + b"".join(b"MTrk" + struct.pack(">I", len(c)) + c for c in chunks))
        os.replace(tmp, self.path)
        return self.path

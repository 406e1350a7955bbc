"""The session recorder: every MIDI message the transport sent, written as a .mid file.

Messages are kept with their host beat (the beat of their actual send time), so
the file lines up with the host's bars; tempo changes become set_tempo meta
events. The file starts at the bar line at or before the first message.

The file is always valid: it is written to a temporary file and renamed over the
target (atomic), and every snapshot closes notes still sounding at its end, so
a crash between two writes leaves the previous complete file. The transport
rewrites it every few seconds and on stop / close / SIGTERM.
"""
from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

TICKS_PER_BEAT = 480
WRITE_INTERVAL_S = 3.0


class Recorder:
    """Collect ``(beat, message)`` pairs and write them to ``path`` as a type-0 MIDI file."""

    def __init__(self, path: Path | str, bpm: float = 120.0, beats_per_bar: int = 4,
                 ticks_per_beat: int = TICKS_PER_BEAT) -> None:
        self.path = Path(path)
        self.ticks_per_beat = ticks_per_beat
        self.beats_per_bar = beats_per_bar
        self._events: list[tuple[float, int, tuple[int, ...]]] = []  # (beat, order, bytes)
        self._tempi: list[tuple[float, float]] = []  # (beat, bpm)
        self._bpm = float(bpm)
        self._lock = threading.Lock()
        self._dirty = False
        self._written_at = float("-inf")

    def __len__(self) -> int:
        return len(self._events)

    def add(self, beat: float, message) -> None:
        """Record one channel message (note on/off, CC, ...) at host ``beat``."""
        data = tuple(int(b) for b in message)
        if not data or data[0] < 0x80 or data[0] >= 0xF0:
            return  # realtime / system messages (clock) are not part of the music
        with self._lock:
            self._events.append((float(beat), len(self._events), data))
            self._dirty = True

    def tempo(self, beat: float, bpm: float) -> None:
        """Record a tempo change at ``beat``."""
        with self._lock:
            if self._tempi and abs(self._tempi[-1][1] - bpm) < 1e-6:
                return
            if not self._tempi and not self._events:
                self._bpm = float(bpm)  # tempo before anything played: the file's starting tempo
                return
            self._tempi.append((float(beat), float(bpm)))
            self._dirty = True

    def maybe_write(self, now: float) -> bool:
        """Write when something changed and WRITE_INTERVAL_S passed since the last write (``now`` monotonic s)."""
        if self._dirty and now - self._written_at >= WRITE_INTERVAL_S:
            self.write()
            self._written_at = now
            return True
        return False

    def write(self) -> Path:
        """Write the file now (atomically); returns its path."""
        import mido  # heavy-ish import only when recording

        with self._lock:
            events = sorted(self._events)
            tempi = list(self._tempi)
            self._dirty = False
        origin = 0.0
        if events:
            origin = math.floor(events[0][0] / self.beats_per_bar + 1e-9) * self.beats_per_bar
        timed: list[tuple[int, int, object]] = []
        timed.append((0, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(self._bpm))))
        for beat, bpm in tempi:
            timed.append((self._tick(beat, origin), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
        sounding: dict[tuple[int, int], int] = {}
        last_tick = 0
        for beat, order, data in events:
            try:
                msg = mido.Message.from_bytes(list(data))
            except (ValueError, TypeError):
                log.warning("recorder skipped invalid MIDI bytes %s", data)
                continue
            tick = self._tick(beat, origin)
            last_tick = max(last_tick, tick)
            timed.append((tick, 1 + order, msg))
            if msg.type == "note_on" and msg.velocity > 0:
                sounding[(msg.channel, msg.note)] = sounding.get((msg.channel, msg.note), 0) + 1
            elif msg.type in ("note_off", "note_on") and sounding.get((msg.channel, msg.note)):
                sounding[(msg.channel, msg.note)] -= 1
        end = len(timed) + len(events) + 1
        for (channel, note), count in sorted(sounding.items()):
            for _ in range(count):  # close what still sounds in this snapshot
                timed.append((last_tick + 1, end, mido.Message("note_off", channel=channel, note=note)))
                end += 1
        timed.sort(key=lambda item: (item[0], item[1]))
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name="cmt-bridge", time=0))
        previous = 0
        for tick, _, msg in timed:
            track.append(msg.copy(time=tick - previous))
            previous = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid = mido.MidiFile(type=0, ticks_per_beat=self.ticks_per_beat)
        mid.tracks.append(track)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        mid.save(str(tmp))
        os.replace(tmp, self.path)
        log.debug("recorded %d messages to %s", len(events), self.path)
        return self.path

    def _tick(self, beat: float, origin: float) -> int:
        return max(0, int(round((beat - origin) * self.ticks_per_beat)))

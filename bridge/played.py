"""What the host plays, for generators that listen to it (the tagger renders it to audio).

:class:`PlayedNotes` sits between the host and the transport
(:meth:`PlayedNotes.tap` returns a stand-in transport): every
``schedule(generator, notes, at_beat)`` is remembered in absolute beats, and
``cancel`` / ``stop`` / ``panic`` are applied to the memory as the transport
applies them to the queue (queued notes dropped, sounding notes cut at the stop
beat), so the memory holds what actually sounds. ``voices`` calls give each
generator's channel programs. Generators read it through
``GeneratorContext.played(from_beat, to_beat)``; only notes within
:data:`KEEP_BEATS` of the clock are kept.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .events import Note

KEEP_BEATS = 64.0


@dataclass(frozen=True)
class PlayedNote:
    """A note the host plays: absolute beats, MIDI pitch / velocity / channel (0..15), GM program or None."""

    generator: str
    start: float
    end: float
    pitch: int
    velocity: int
    channel: int
    program: int | None = None


class PlayedNotes:
    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._notes: list[PlayedNote] = []
        self._programs: dict[tuple[str, int], int | None] = {}
        self._lock = threading.Lock()

    def tap(self, transport: Any) -> "_Tap":
        return _Tap(transport, self)

    def between(self, from_beat: float, to_beat: float) -> list[PlayedNote]:
        """Notes sounding at some point of [from_beat, to_beat), by start beat."""
        with self._lock:
            return sorted((n for n in self._notes if n.start < to_beat and n.end > from_beat),
                          key=lambda n: (n.start, n.channel, n.pitch))

    # -- what the host does to the transport ---------------------------------
    def schedule(self, generator: str, notes: Iterable[Note], at_beat: float) -> None:
        with self._lock:
            for n in notes:
                self._notes.append(PlayedNote(generator, at_beat + n.start, at_beat + n.start + n.duration, n.pitch,
                                              n.velocity, n.channel, self._programs.get((generator, n.channel))))
            horizon = self.now() - KEEP_BEATS
            if self._notes and self._notes[0].end < horizon:
                self._notes = [n for n in self._notes if n.end >= horizon]

    def voices(self, generator: str, voices: dict[int, tuple[str, int | None]]) -> None:
        with self._lock:
            for channel, (_, program) in voices.items():
                self._programs[(generator, channel)] = program

    def cut(self, generator: str | None, from_beat: float, end_sounding: bool) -> None:
        """Notes of ``generator`` (None: all) starting from ``from_beat`` on are dropped; with ``end_sounding``
        the ones sounding there end there (stop, panic), otherwise they end on time (cancel)."""
        with self._lock:
            kept = []
            for n in self._notes:
                if generator is not None and n.generator != generator or n.end <= from_beat:
                    kept.append(n)
                elif n.start < from_beat:
                    if not end_sounding:
                        kept.append(n)
                        continue
                    kept.append(PlayedNote(n.generator, n.start, from_beat, n.pitch, n.velocity, n.channel,
                                           n.program))
            self._notes = kept


class _Tap:
    """The transport as the host sees it: calls go through, and the notes are remembered on the way."""

    def __init__(self, transport: Any, played: PlayedNotes) -> None:
        self._transport = transport
        self._played = played

    def schedule(self, generator: str, notes, at_beat: float, text: str = "") -> None:
        notes = list(notes)
        if text:
            self._transport.schedule(generator, notes, at_beat, text=text)
        else:
            self._transport.schedule(generator, notes, at_beat)
        self._played.schedule(generator, notes, at_beat)

    def voices(self, generator: str, voices: dict) -> None:
        self._transport.voices(generator, voices)
        self._played.voices(generator, voices)

    def cancel(self, generator: str, from_beat: float) -> None:
        self._transport.cancel(generator, from_beat)
        self._played.cut(generator, max(from_beat, self._played.now()), end_sounding=False)

    def stop(self, generator: str | None = None) -> None:
        self._transport.stop(generator)
        self._played.cut(generator, self._played.now(), end_sounding=True)

    def panic(self) -> None:
        self._transport.panic()
        self._played.cut(None, self._played.now(), end_sounding=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

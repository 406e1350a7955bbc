"""MIDI input: notes (history in host beats), CC, and MIDI clock follow.

The port is read by *polling* on our own thread, not through an rtmidi callback:
python-rtmidi's JACK input callback was seen to corrupt ~0.1% of messages when
the callback ran late (it waits for the GIL on JACK's thread). Polled, JACK's
thread only fills rtmidi's C++ queue; we drain it every millisecond, validate
every message against its status byte and drop what does not fit.

Message times come from rtmidi's delta times (JACK's clock), mapped onto
``time.monotonic`` by their earliest poll (a message can be read late, never
early), so polling jitter does not enter the MIDI clock estimate.

Clock follow (``follow_clock=True``): 24 ticks per beat. The tempo is a
least-squares fit of tick time against tick number over the last beat or two
(restarted when the tempo jumps); the host clock follows with an anchor that
puts the master's beat ``n/24`` on host beat ``origin + n/24``. On Start the
origin is the next host bar line, so both sides' bars line up; Continue and
Song Position keep counting from the master's position; with a clock but no
Start only the tempo is followed (the host's beat stays continuous).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable

from . import midi_ports
from .clock import MAX_BPM, MIN_BPM, Anchor, Clock
from .events import InputNote

log = logging.getLogger(__name__)

POLL_S = 0.001
HISTORY_NOTES = 2048
TICKS_PER_BEAT = 24
FIT_TICKS = 48           # ticks in the tempo fit (2 beats)
MIN_FIT_TICKS = 12       # ticks before the first estimate (half a beat)
JUMP = 0.08              # a tick interval this far (relative) from the fit restarts the fit
RETEMPO = 0.005          # follow at once when the tempo moved this much (relative)
MIN_TICK_S = 60.0 / (MAX_BPM * TICKS_PER_BEAT)
MAX_TICK_S = 60.0 / (MIN_BPM * TICKS_PER_BEAT)

_LENGTHS = {0x80: 3, 0x90: 3, 0xA0: 3, 0xB0: 3, 0xC0: 2, 0xD0: 2, 0xE0: 3}
_SYSTEM_LENGTHS = {0xF1: 2, 0xF2: 3, 0xF3: 2, 0xF6: 1, 0xF8: 1, 0xFA: 1, 0xFB: 1, 0xFC: 1, 0xFE: 1, 0xFF: 1}


def valid_message(message) -> bool:
    """True when ``message`` is one complete channel or system message (no sysex)."""
    if not message:
        return False
    status = message[0]
    if status < 0x80:
        return False
    expected = _LENGTHS.get(status & 0xF0) if status < 0xF0 else _SYSTEM_LENGTHS.get(status)
    return expected == len(message) and all(0 <= b < 0x80 for b in message[1:])


class _HeldNote:
    __slots__ = ("pitch", "velocity", "start", "end", "channel")

    def __init__(self, pitch: int, velocity: int, start: float, channel: int) -> None:
        self.pitch, self.velocity, self.start, self.channel = pitch, velocity, start, channel
        self.end: float | None = None

    def frozen(self) -> InputNote:
        return InputNote(self.pitch, self.velocity, self.start, self.end, self.channel)


class ClockFollower:
    """Turns timed 0xF8 ticks (+ start/continue/stop/SPP) into anchors for ``clock.follow``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.running = False
        self.position = 0          # master ticks since song start
        self.origin: float | None = None  # host beat of master tick 0
        self._ticks: collections.deque = collections.deque(maxlen=FIT_TICKS)  # (tick, time)
        self._last_follow_tick = -10**9
        self.bpm: float | None = None

    def start(self) -> None:
        self.running, self.position, self._ticks = True, 0, collections.deque(maxlen=FIT_TICKS)
        self.origin = None  # set at the first tick: the next host bar line

    def resume(self) -> None:
        self.running = True
        self._ticks.clear()

    def stop(self) -> None:
        self.running = False

    def song_position(self, sixteenths: int) -> None:
        self.position = sixteenths * 6
        self.origin = None if not self._ticks else self.origin
        self._ticks.clear()

    def tick(self, t: float) -> None:
        if self.origin is None:
            if self.running and self.position == 0:
                self.origin = self.clock.next_bar(self.clock.beat_at(t) - 1e-6)
            else:  # no Start seen: keep the host beat continuous, follow the tempo only
                self.origin = self.clock.beat_at(t) - self.position / TICKS_PER_BEAT
        ticks = self._ticks
        if len(ticks) >= 2 and self.bpm:
            expected = 60.0 / (self.bpm * TICKS_PER_BEAT)
            interval = t - ticks[-1][1]
            if abs(interval - expected) > JUMP * expected and len(ticks) >= 4:
                recent = [interval] + [ticks[-i][1] - ticks[-i - 1][1] for i in (1, 2)]
                mean = sum(recent) / 3
                if (all(abs(x - expected) > JUMP * expected for x in recent) and MIN_TICK_S <= mean <= MAX_TICK_S
                        and all(abs(x - mean) < JUMP * mean for x in recent)):
                    # three like intervals in a row off the fit, at a possible tempo: a tempo change
                    # (a late burst of ticks is not one), restart the fit from them
                    keep = list(ticks)[-3:]
                    ticks.clear()
                    ticks.extend(keep)
        ticks.append((self.position, t))
        self.position += 1
        if len(ticks) >= MIN_FIT_TICKS or (self.bpm is not None and len(ticks) >= 4):
            self._update(ticks)

    def _update(self, ticks) -> None:
        n = len(ticks)
        mean_k = sum(k for k, _ in ticks) / n
        mean_t = sum(t for _, t in ticks) / n
        var = sum((k - mean_k) ** 2 for k, _ in ticks)
        if var <= 0:
            return
        slope = sum((k - mean_k) * (t - mean_t) for k, t in ticks) / var  # seconds per tick
        if slope <= 0:
            return
        bpm = 60.0 / (slope * TICKS_PER_BEAT)
        if not MIN_BPM <= bpm <= MAX_BPM:
            log.debug("MIDI clock at %.1f BPM is outside %g..%g: ignored", bpm, MIN_BPM, MAX_BPM)
            return
        last_k = ticks[-1][0]
        retempo = self.bpm is None or abs(bpm - self.clock.bpm) > RETEMPO * self.clock.bpm
        self.bpm = bpm
        if retempo or last_k - self._last_follow_tick >= TICKS_PER_BEAT:
            t_last = mean_t + (last_k - mean_k) * slope  # the fitted time of the last tick
            self._last_follow_tick = last_k
            self.clock.follow(Anchor(t_last, self.origin + last_k / TICKS_PER_BEAT, bpm))


class MidiInput:
    """Notes, CC and clock from a MIDI port (``name`` None: a virtual port ``virtual_name``).

    ``on_note(InputNote)`` runs at note-on (``end`` None) and note-off;
    ``on_cc(channel0_15, cc, value)``; ``on_transport("start" | "stop" | "continue")``.
    Callbacks run on the input thread; keep them short.
    """

    def __init__(self, clock: Clock, name: str | None = None, virtual_name: str = "cmt-bridge-in",
                 api: str = "auto", on_note: Callable[[InputNote], None] | None = None,
                 on_cc: Callable[[int, int, int], None] | None = None, follow_clock: bool = False,
                 on_transport: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self.on_note, self.on_cc, self.on_transport = on_note, on_cc, on_transport
        self.follower = ClockFollower(clock) if follow_clock else None
        self.invalid = 0  # messages dropped by validation
        self._notes: collections.deque[_HeldNote] = collections.deque(maxlen=HISTORY_NOTES)
        self._held: dict[tuple[int, int], _HeldNote] = {}
        self._lock = threading.Lock()
        self._offset: float | None = None   # monotonic - rtmidi cumulative time
        self._stream_t = 0.0
        self.port = midi_ports.open_input(name, virtual_name, api, callback=None)
        self.name = self.port.name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="cmt-bridge-midi-in", daemon=True)
        self._thread.start()

    def history(self, beats: float) -> list[InputNote]:
        """Notes that started in the last ``beats`` beats, or are still held; by start."""
        since = self.clock.now() - beats
        with self._lock:
            notes = [n.frozen() for n in self._notes if n.start >= since or n.end is None]
        return sorted(notes, key=lambda n: (n.start, n.pitch))

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(2)
        self.port.close()

    def __enter__(self) -> "MidiInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- the input thread -----
    def _poll(self) -> None:
        get = getattr(self.port, "get_message", None)
        if get is None:  # api none
            return
        while not self._stop.is_set():
            event = get()
            if event is None:
                time.sleep(POLL_S)
                continue
            message, delta = event
            self._stream_t += delta
            now = time.monotonic()
            seen = now - self._stream_t
            if self._offset is None or seen < self._offset:
                self._offset = seen  # the earliest read so far: the least delayed
            else:
                self._offset += min(seen - self._offset, 1e-5)  # follow a slow drift between the two clocks
            if not valid_message(message):
                self.invalid += 1
                log.debug("dropped invalid MIDI input %s", message)
                continue
            try:
                self._handle(message, self._stream_t + self._offset)
            except Exception:  # a host callback failing must not stop the input
                log.exception("MIDI input handler failed on %s", message)

    def _handle(self, message: list[int], t: float) -> None:
        status = message[0]
        if status >= 0xF0:
            self._system(status, message, t)
            return
        kind, channel = status & 0xF0, status & 0x0F
        if kind == 0x90 and message[2] > 0:
            note = _HeldNote(message[1], message[2], self.clock.beat_at(t), channel)
            with self._lock:
                previous = self._held.pop((channel, message[1]), None)
                if previous is not None:
                    previous.end = note.start
                self._held[(channel, message[1])] = note
                self._notes.append(note)
            if self.on_note:
                self.on_note(note.frozen())
        elif kind == 0x80 or kind == 0x90:
            with self._lock:
                note = self._held.pop((channel, message[1]), None)
                if note is not None:
                    note.end = max(note.start, self.clock.beat_at(t))
            if note is not None and self.on_note:
                self.on_note(note.frozen())
        elif kind == 0xB0 and self.on_cc:
            self.on_cc(channel, message[1], message[2])

    def _system(self, status: int, message: list[int], t: float) -> None:
        follower = self.follower
        if status == 0xF8:
            if follower is not None:
                follower.tick(t)
        elif status in (0xFA, 0xFB, 0xFC):
            action = {0xFA: "start", 0xFB: "continue", 0xFC: "stop"}[status]
            if follower is not None:
                {"start": follower.start, "continue": follower.resume, "stop": follower.stop}[action]()
            if self.on_transport:
                self.on_transport(action)
        elif status == 0xF2 and follower is not None:
            follower.song_position(message[1] | (message[2] << 7))

"""The timed output process: plays scheduled notes at their time, pairs every note-on with its note-off.

This module runs in the child process started by :class:`bridge.transport.Transport`
(multiprocessing, spawn) and imports only the standard library, rtmidi/JACK-Client,
python-osc and mido — never torch, never the host. The host's Python and GIL load
therefore cannot delay a note; only the parent -> child pipe carries notes, and
it carries them ahead of time (the host's lookahead).

Everything is kept in beats: a heap of note-on / note-off events keyed by host
beat; the current :class:`~bridge.clock.Anchor` turns a beat into its monotonic
time, so a tempo change re-times all pending events at once. The loop sleeps
(``conn.poll``) until shortly before the next event, then spins to its exact
time (rtmidi) or hands it a few periods early to the JACK process callback.

Pairing rules (the receiver must never keep a stuck note):
- a note-off is sent for every note-on: on time, or at once on stop / panic /
  close / SIGTERM / SIGINT / parent death (pipe EOF or a changed parent pid);
- a pitch re-triggered on the same channel while sounding gets note-off +
  note-on, and the earlier note's own note-off is skipped (counts per
  channel/pitch), so the later note is never cut short and the receiver sees
  on/off strictly alternating;
- a note-on more than ``DROP_LATE_S`` late is dropped (with its note-off).

A phrase scheduled with a text (its seed, ``"seed 1234"``) puts a :class:`Mark`
in the heap at the phrase's start: when its time comes the recorder writes the
text meta event there (cancelled with the phrase's notes; never sent as MIDI).
"""
from __future__ import annotations

import gc
import heapq
import itertools
import logging
import math
import os
import signal
import sys
import time

from .clock import Anchor

log = logging.getLogger(__name__)

DROP_LATE_S = 0.25        # note-ons later than this are skipped, not played late
SHUTDOWN_DRAIN_S = 0.15   # seconds the MIDI backend gets to deliver the final note-offs (each copy)
MAX_WAIT_S = 0.05         # the loop checks signals / parent at least this often
POLL_ROUNDING_S = 0.0011  # conn.poll() sleeps whole milliseconds (rounded up)
PENDING, SOUNDING, DONE = 0, 1, 2
MARK, OFF, ON = -1, 0, 1  # heap order within one beat: a phrase's text, note-offs, note-ons


class PlayedNote:
    __slots__ = ("generator", "pitch", "velocity", "channel", "start", "end", "state")

    def __init__(self, generator: str, pitch: int, velocity: int, start: float, end: float, channel: int) -> None:
        self.generator, self.pitch, self.velocity = generator, pitch, velocity
        self.start, self.end, self.channel = start, end, channel
        self.state = PENDING


class Mark:
    """A text for the recording at a phrase's start (beat), on the channel of its first note."""

    __slots__ = ("generator", "channel", "text", "start", "state")

    def __init__(self, generator: str, channel: int, text: str, start: float) -> None:
        self.generator, self.channel, self.text, self.start = generator, channel, text, start
        self.state = PENDING


class _OscFanout:
    """``send_message`` to every OSC destination (the reply address, and the web surface's tap)."""

    def __init__(self, clients: list) -> None:
        self.clients = clients

    def send_message(self, address: str, args: list) -> None:
        for client in self.clients:
            try:
                client.send_message(address, args)
            except OSError as err:
                log.debug("OSC send failed: %s", err)


class Playout:
    """The child's state machine; ``run()`` is its loop. Parent messages are tuples (see ``handle``)."""

    def __init__(self, conn, options, anchor: Anchor, parent_pid: int, signals: list | None = None) -> None:
        from .sinks import open_sink

        self.signals = signals if signals is not None else []  # filled by the signal handlers
        self.conn = conn
        self.options = options
        self.anchor = anchor
        self.parent_pid = parent_pid
        self.timing: list | None = [] if options.timing_log else None
        self.sink = open_sink(options.midi_out, options.virtual_name, options.api, options.jack_native, self.timing)
        self.spin_s = 0.0
        if self.sink.precise:
            self.spin_s = 0.0006 if _realtime_priority(options.realtime) else 0.002
        self.osc = None
        targets = [t for t in (options.osc_out, getattr(options, "osc_copy", None)) if t]
        if targets:
            from pythonosc.udp_client import SimpleUDPClient

            self.osc = _OscFanout([SimpleUDPClient(host, int(port)) for host, port in targets])
        self.recorder = None
        if options.record:
            from .recorder import Recorder

            self.recorder = Recorder(options.record, bpm=anchor.bpm)
        self.heap: list = []
        self.seq = itertools.count()
        self.by_generator: dict[str, set[PlayedNote]] = {}
        self.marks: dict[str, list[Mark]] = {}      # pending marks per generator
        self.counts: dict[tuple[int, int], int] = {}
        self.sounding_notes: set[PlayedNote] = set()
        self.pending = 0
        self.dropped = 0
        self.clock_running = False
        self.clock_start: tuple[float, int] | None = None  # (beat, status byte FA/FB)
        self._rephase()
        self.quit = False
        self.exit_reason = ""

    # ----- time grid -----
    def _rephase(self) -> None:
        """Next clock tick and /cmt/beat after an anchor change; a small step back (a phase
        correction) never repeats a tick or beat already sent, a big one (a restart) does."""
        beat = self.anchor.beat_at(time.monotonic())
        tick = math.ceil(beat * 24 - 1e-6)   # MIDI clock tick index (24 per beat)
        whole = math.ceil(beat - 1e-9)       # /cmt/beat number
        previous = getattr(self, "next_tick", None)
        if previous is not None and 0 < previous - tick <= 24:
            tick, whole = previous, max(whole, self.next_beat)
        self.next_tick, self.next_beat = tick, whole

    # ----- sending -----
    def _send(self, data: list[int], t: float) -> None:
        self.sink.send(data, t)
        if self.recorder is not None:
            self.recorder.add(self.anchor.beat_at(t), data)

    def _note_on(self, note: PlayedNote, t: float, osc: list) -> None:
        key = (note.channel, note.pitch)
        count = self.counts.get(key, 0)
        if count:
            self._send([0x80 | note.channel, note.pitch, 64], t)  # re-trigger: close the earlier one first
        self._send([0x90 | note.channel, note.pitch, note.velocity], t)
        self.counts[key] = count + 1
        note.state = SOUNDING
        self.sounding_notes.add(note)
        if self.osc is not None:
            ms = int(round((self.anchor.time_at(note.end) - self.anchor.time_at(note.start)) * 1000))
            osc.append(("/cmt/note", [note.generator, note.pitch, note.velocity, ms, note.channel + 1]))

    def _note_off(self, note: PlayedNote, t: float) -> None:
        if note.state != SOUNDING:
            return
        note.state = DONE
        self.sounding_notes.discard(note)
        self._forget(note)
        key = (note.channel, note.pitch)
        count = self.counts.get(key, 0) - 1
        if count <= 0:
            self.counts.pop(key, None)
            self._send([0x80 | note.channel, note.pitch, 64], t)
        else:
            self.counts[key] = count

    def _forget(self, note: PlayedNote) -> None:
        notes = self.by_generator.get(note.generator)
        if notes is not None:
            notes.discard(note)
            if not notes:
                del self.by_generator[note.generator]

    def _cancel(self, note: PlayedNote) -> None:
        if note.state == PENDING:
            note.state = DONE
            self.pending -= 1
            self._forget(note)

    def release(self, generator: str | None = None) -> None:
        """Cancel pending notes of ``generator`` (None: all) and end its sounding notes now."""
        now = time.monotonic()
        for gen in [generator] if generator is not None else list(self.by_generator):
            for note in sorted(self.by_generator.get(gen, ()), key=lambda n: (n.start, n.pitch)):
                if note.state == PENDING:
                    self._cancel(note)
                else:
                    self._note_off(note, now)
        for gen in [generator] if generator is not None else list(self.marks):
            for mark in self.marks.pop(gen, ()):
                mark.state = DONE
        if generator is None:
            self.heap.clear()
            self.pending = 0

    def panic(self) -> None:
        self.release(None)
        now = time.monotonic()
        for channel in range(16):
            self._send([0xB0 | channel, 123, 0], now)  # all notes off
            self._send([0xB0 | channel, 120, 0], now)  # all sound off
        self.counts.clear()
        self.write_recording()

    # ----- parent messages -----
    def handle(self, msg: tuple) -> None:
        kind = msg[0]
        if kind == "schedule":
            generator, rows = msg[1], msg[2]
            if len(msg) > 3 and self.recorder is not None and rows:   # (phrase start beat, text)
                at_beat, text = msg[3]
                first = min(rows, key=lambda r: (r[2], r[0]))
                mark = Mark(generator, first[4], text, at_beat)
                self.marks.setdefault(generator, []).append(mark)
                heapq.heappush(self.heap, (at_beat, MARK, next(self.seq), mark))
            notes = self.by_generator.setdefault(generator, set())
            if self.recorder is not None:
                for channel in {row[4] for row in rows}:
                    self.recorder.player(channel, generator)
            for pitch, velocity, start, duration, channel in rows:
                note = PlayedNote(generator, pitch, velocity, start, start + duration, channel)
                notes.add(note)
                self.pending += 1
                heapq.heappush(self.heap, (note.start, ON, next(self.seq), note))
                heapq.heappush(self.heap, (note.end, OFF, next(self.seq), note))
        elif kind == "voices":
            _, generator, rows = msg
            if self.recorder is not None:
                for channel, (name, program) in rows.items():
                    self.recorder.voice(channel, generator, name, program)
        elif kind == "cancel":
            _, generator, from_beat = msg
            for note in list(self.by_generator.get(generator, ())):
                if note.state == PENDING and note.start >= from_beat - 1e-9:
                    self._cancel(note)
            kept = []
            for mark in self.marks.get(generator, ()):
                if mark.start >= from_beat - 1e-9:
                    mark.state = DONE        # its heap entry is skipped
                else:
                    kept.append(mark)
            if kept:
                self.marks[generator] = kept
            else:
                self.marks.pop(generator, None)
        elif kind == "stop":
            self.release(msg[1])
            self.write_recording()
        elif kind == "panic":
            self.panic()
        elif kind == "anchor":
            self.anchor = msg[1]
            if self.recorder is not None:
                self.recorder.tempo(self.anchor.beat_at(time.monotonic()), self.anchor.bpm)
            self._rephase()
        elif kind == "clock":
            _, action, at_beat = msg
            if action == "stop":
                if self.clock_running or self.clock_start:
                    self.sink.send([0xFC], time.monotonic())
                self.clock_running = False
                self.clock_start = None
            else:
                beat = math.ceil(self.anchor.beat_at(time.monotonic()) - 1e-9) if at_beat is None else at_beat
                self.clock_start = (beat, 0xFA if action == "start" else 0xFB)
        elif kind == "query":
            _, req, what = msg
            value = {"sounding": len(self.sounding_notes), "pending": self.pending, "dropped": self.dropped,
                     "port": self.sink.name, "api": self.sink.api, "clock_running": self.clock_running,
                     "torch_loaded": "torch" in sys.modules, "pid": os.getpid()}
            self.conn.send(("reply", req, value if what == "all" else value.get(what)))
        elif kind == "close":
            self.quit = True
            self.exit_reason = "close"
        else:
            log.warning("playout: unknown message %r", kind)

    # ----- the loop -----
    def _heap_top(self):
        heap = self.heap
        while heap:
            beat, kind, _, note = heap[0]
            if note.state == DONE or (kind == ON and note.state != PENDING):
                heapq.heappop(heap)  # cancelled / already released
                continue
            return heap[0]
        return None

    def _next_due(self) -> float:
        """Monotonic time of the next thing to do (minus the sink's lead)."""
        anchor = self.anchor
        due = math.inf
        top = self._heap_top()
        if top is not None:
            due = anchor.time_at(top[0])
        if self.options.clock_out:
            due = min(due, anchor.time_at(self.next_tick / 24))
        if self.osc is not None and self._beat_active():
            due = min(due, anchor.time_at(self.next_beat))
        return due - self.sink.lead_s

    def _beat_active(self) -> bool:
        return bool(self.pending or self.sounding_notes or self.clock_running or self.clock_start)

    def _dispatch(self, now: float) -> None:
        """Send everything due at ``now`` (plus the sink's lead)."""
        anchor, horizon, osc = self.anchor, now + self.sink.lead_s + 1e-5, []
        while True:
            top = self._heap_top()
            if top is None or anchor.time_at(top[0]) > horizon:
                break
            beat, kind, _, note = heapq.heappop(self.heap)
            t = anchor.time_at(beat)
            if kind == MARK:
                note.state = DONE
                marks = self.marks.get(note.generator, [])
                if note in marks:
                    marks.remove(note)
                self.recorder.text(beat, note.channel, note.text)
            elif kind == ON:
                self.pending -= 1
                if now - t > DROP_LATE_S:
                    note.state = DONE
                    self.dropped += 1
                    self._forget(note)
                    continue
                self._note_on(note, t, osc)
            else:
                self._note_off(note, t)
        if self.options.clock_out:
            while anchor.time_at(self.next_tick / 24) <= horizon:
                tick_beat, t = self.next_tick / 24, anchor.time_at(self.next_tick / 24)
                if self.clock_start and tick_beat >= self.clock_start[0] - 1e-9:
                    self.sink.send([self.clock_start[1]], t)
                    self.clock_start, self.clock_running = None, True
                self.sink.send([0xF8], t)
                self.next_tick += 1
        if self.osc is not None:
            while anchor.time_at(self.next_beat) <= horizon:
                if self._beat_active():
                    osc.append(("/cmt/beat", [int(self.next_beat)]))
                self.next_beat += 1
            for address, args in osc:  # after the MIDI of this instant: MIDI timing first
                try:
                    self.osc.send_message(address, args)
                except OSError as err:
                    log.debug("OSC send failed: %s", err)

    def run(self) -> None:
        conn = self.conn
        conn.send(("ready", {"port": self.sink.name, "api": self.sink.api}))
        while not self.quit:
            if self.signals:
                self.exit_reason = f"signal {self.signals[0]}"
                break
            if os.getppid() != self.parent_pid:
                self.exit_reason = "parent died"
                break
            now = time.monotonic()
            wait = self._next_due() - now
            if wait > self.spin_s + POLL_ROUNDING_S:
                # poll() counts whole milliseconds, rounded up: stop short by one
                wait = min(wait - self.spin_s - POLL_ROUNDING_S, MAX_WAIT_S)
                if self.recorder is not None and wait > 0.02 and self.recorder.maybe_write(now):
                    continue
                try:
                    if conn.poll(wait):
                        while conn.poll(0) and not self.quit:
                            self.handle(conn.recv())
                except (EOFError, OSError):
                    self.exit_reason = "parent pipe closed"
                    break
                continue
            if wait > self.spin_s:
                time.sleep(wait - self.spin_s)  # nanosleep: precise, unlike poll()
            due = now + wait
            while time.monotonic() < due:  # spin the last fraction of a millisecond
                pass
            self._dispatch(time.monotonic())

    def shutdown(self) -> None:
        """Note-offs for everything sounding (sent twice), final recording, ports closed.

        The second copy goes out a few JACK periods after the first: a client that misses
        a period (a loaded machine, a non-realtime server) loses that period's MIDI, and a
        lost note-off at exit would hang at the receiver for good. A repeated note-off is
        harmless (the note is off already); it is not recorded.
        """
        keys = sorted({(n.channel, n.pitch) for n in self.sounding_notes})
        self.release(None)
        self.sink.drain(SHUTDOWN_DRAIN_S)
        if keys:
            now = time.monotonic()
            for channel, pitch in keys:
                self.sink.send([0x80 | channel, pitch, 64], now)
            self.sink.drain(SHUTDOWN_DRAIN_S)
        self.write_recording()
        if self.timing is not None:
            _write_timing(self.options.timing_log, self.timing)
        self.sink.close()

    def write_recording(self) -> None:
        if self.recorder is not None and len(self.recorder):
            try:
                self.recorder.write()
            except OSError as err:
                log.error("cannot write the recording %s: %s", self.recorder.path, err)


def _realtime_priority(wanted: bool) -> bool:
    """Ask for SCHED_FIFO for every thread of this process (the MIDI backend's JACK thread too).

    Granted as root or with an rtprio limit; otherwise the loop spins a little longer.
    A JACK client thread that misses its period loses that period's MIDI, so it
    matters when jackd itself runs without realtime priority.
    """
    if not wanted or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        param = os.sched_param(min(20, os.sched_get_priority_max(os.SCHED_FIFO)))
        os.sched_setscheduler(0, os.SCHED_FIFO, param)
    except (OSError, AttributeError):
        return False
    try:
        for tid in os.listdir("/proc/self/task"):
            try:  # threads that are realtime already (a realtime JACK server's) keep their priority
                if os.sched_getscheduler(int(tid)) == os.SCHED_OTHER:
                    os.sched_setscheduler(int(tid), os.SCHED_FIFO, param)
            except OSError:
                pass
    except OSError:
        pass
    return True


def _write_timing(path, rows: list) -> None:
    with open(path, "w") as fh:
        fh.write("intended_s,actual_s,status,data1\n")
        for intended, actual, status, data1 in rows:
            fh.write(f"{intended:.6f},{actual:.6f},{status},{data1}\n")


def child_main(conn, options, anchor: Anchor, parent_pid: int) -> None:
    """Entry point of the output process."""
    logging.basicConfig(level=os.environ.get("CMT_BRIDGE_CHILD_LOG", "WARNING"), stream=sys.stderr,
                        format="cmt-bridge playout: %(message)s")  # the child is its own program
    signals: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: signals.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: signals.append(signum))
    try:
        playout = Playout(conn, options, anchor, parent_pid, signals)
    except Exception as err:  # report why the port did not open, in one line, to the parent
        conn.send(("error", str(err) or type(err).__name__))
        return
    gc.collect()
    gc.freeze()  # what exists now never needs collecting: fewer, shorter pauses
    try:
        playout.run()
    finally:
        playout.shutdown()
        try:
            conn.send(("closed", {"reason": playout.exit_reason, "dropped": playout.dropped}))
        except (OSError, EOFError):
            pass

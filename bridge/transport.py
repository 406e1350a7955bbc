"""The timed output: the host's handle on the output process that plays notes at their time.

The host schedules notes in absolute host beats; a separate process
(:mod:`bridge.playout`, started with multiprocessing ``spawn``, torch-free)
turns them into MIDI, OSC ``/cmt/note`` + ``/cmt/beat``, MIDI clock and a .mid
recording at the right moment. Inference and the host's GIL load live in the
parent, so they cannot make a note late; the parent only needs to stay ahead of
the clock (its lookahead).

Usage::

    clock = Clock(120)
    transport = Transport(TransportOptions(record=Path("take.mid")), clock.anchor)
    transport.start()                        # PortError with a clear line if the port fails
    clock.add_listener(transport.set_anchor)
    transport.schedule("midime", phrase.notes, at_beat=clock.next_bar(margin=0.5))
    ...
    transport.close()                        # note-offs for all, recording written

The child sends note-offs for everything sounding on stop/panic/close, on
SIGTERM/SIGINT, and when the parent dies (pipe EOF or a changed parent pid).
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .clock import Anchor
from .errors import PortError
from .events import Note

log = logging.getLogger(__name__)

START_TIMEOUT_S = 20.0   # the spawn + port opening; generous because the machine may be loaded
CLOSE_TIMEOUT_S = 5.0


@dataclass
class TransportOptions:
    midi_out: str | None = None        # name (or substring) of an existing port; None -> open a virtual port
    virtual_name: str = "cmt-bridge"
    api: str = "auto"                  # auto | jack | alsa | coremidi | winmm | none (no MIDI, OSC/record only)
    clock_out: bool = False            # send MIDI clock 24 ppqn + start/stop/continue
    osc_out: tuple[str, int] | None = ("127.0.0.1", 9001)   # sends /cmt/note and /cmt/beat, timed
    osc_copy: tuple[str, int] | None = None    # the same /cmt/note and /cmt/beat here too (the web surface)
    record: Path | None = None         # .mid recorder path (rewritten every few s and on every stop)
    jack_native: bool | None = None    # True: JACK-Client output at frame offsets (opt-in, see bridge.sinks)
    realtime: bool = True              # ask for SCHED_FIFO in the output process (ignored when not permitted)
    timing_log: Path | None = None     # CSV of intended/actual send times per message (benchmarks)


_MAIN_SWAP = threading.Lock()


def _start_without_main(process) -> None:
    """Start a spawn process without re-running the parent's ``__main__`` in it.

    multiprocessing's spawn imports the parent's main script in the child (a user
    script without a ``__main__`` guard would run twice, and could import torch);
    the output process needs nothing from it, so it is hidden during start().
    """
    import sys
    import types

    with _MAIN_SWAP:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            process.start()
        finally:
            if main is not None:
                sys.modules["__main__"] = main


class Transport:
    """The parent side of the output process; every method is thread-safe."""

    def __init__(self, options: TransportOptions, anchor: Anchor) -> None:
        self.options = options
        self.anchor = anchor
        self.info: dict = {}
        self._process = None
        self._conn = None
        self._lock = threading.Lock()
        self._replies: dict[int, object] = {}
        self._reply_ready = threading.Condition()
        self._requests = itertools.count(1)
        self._closed_info: dict | None = None
        self._reader: threading.Thread | None = None

    # ----- life cycle -----
    def start(self) -> None:
        """Spawn the output process and open its ports; raises PortError with the child's reason."""
        import multiprocessing

        from . import playout

        if self._process is not None:
            raise PortError("the transport is started already")
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        process = ctx.Process(target=playout.child_main, name="cmt-bridge-playout", daemon=True,
                              args=(child_conn, self.options, self.anchor, os.getpid()))
        _start_without_main(process)
        child_conn.close()  # only the child holds its end: its exit is our EOF and vice versa
        try:
            if not parent_conn.poll(START_TIMEOUT_S):
                raise PortError(f"the MIDI output process did not start within {START_TIMEOUT_S:g} s")
            kind, payload = parent_conn.recv()
        except (EOFError, OSError):
            kind, payload = "error", f"the MIDI output process exited at start (exit code {process.exitcode})"
        except PortError:
            process.terminate()
            process.join(2)
            raise
        if kind != "ready":
            process.join(2)
            raise PortError(str(payload))
        self.info = payload
        self._process, self._conn = process, parent_conn
        self._reader = threading.Thread(target=self._read, name="cmt-bridge-transport-reader", daemon=True)
        self._reader.start()
        log.info("transport ready: MIDI out %r (%s), pid %d", payload.get("port"), payload.get("api"), process.pid)

    @property
    def port_name(self) -> str:
        """The MIDI port other programs see (e.g. ``cmt-bridge:midi_out`` on JACK)."""
        return self.info.get("port", "")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def is_alive(self) -> bool:
        return self._process is not None and self._process.is_alive() and self._closed_info is None

    def close(self) -> None:
        """Note-offs for all, the final recording written, the process joined. Idempotent."""
        process = self._process
        if process is None:
            return
        if process.is_alive():
            try:
                self._send(("close",))
            except PortError:
                pass
            process.join(CLOSE_TIMEOUT_S)
        if process.is_alive():
            log.warning("the output process did not close in %g s: terminating it", CLOSE_TIMEOUT_S)
            process.terminate()  # SIGTERM: the child still sends its note-offs
            process.join(CLOSE_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join(1)
        if self._reader is not None:
            self._reader.join(2)  # ends at the pipe's EOF, now that the child is gone
        if self._conn is not None:
            self._conn.close()
        self._process = None

    def __enter__(self) -> "Transport":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- playing -----
    def schedule(self, generator: str, notes: Iterable[Note], at_beat: float, text: str = "") -> None:
        """Play ``notes``: note i starts at host beat ``at_beat + notes[i].start``; ``text`` (e.g. ``"seed 12"``)
        goes into the recording as a text meta event at ``at_beat``, on the first note's channel."""
        rows = []
        for note in notes:
            if not isinstance(note, Note):
                raise TypeError(f"schedule() needs Note objects, got {type(note).__name__}")
            rows.append((note.pitch, note.velocity, float(at_beat) + note.start, note.duration, note.channel))
        if rows:
            self._send(("schedule", str(generator), rows, (float(at_beat), str(text))) if text
                       else ("schedule", str(generator), rows))

    def voices(self, generator: str, voices: dict[int, tuple[str, int | None]]) -> None:
        """Name ``generator``'s channels (``{channel: (instrument, GM program or None)}``) for the recording."""
        self._send(("voices", str(generator), dict(voices)))   # ranges checked by generator.validate

    def cancel(self, generator: str, from_beat: float) -> None:
        """Drop the generator's notes starting at or after ``from_beat``; sounding notes end on time."""
        self._send(("cancel", str(generator), float(from_beat)))

    def stop(self, generator: str | None = None) -> None:
        """Cancel everything of ``generator`` (None: all) and send its sounding notes' note-offs now."""
        self._send(("stop", generator))

    def panic(self) -> None:
        """Note-off for every sounding note, pending notes dropped, CC 123 + 120 on all 16 channels."""
        self._send(("panic",))

    def set_anchor(self, anchor: Anchor) -> None:
        """Tempo change / follow: pending notes (kept in beats) are re-timed at once."""
        self.anchor = anchor
        self._send(("anchor", anchor))

    def start_clock(self, at_beat: float | None = None) -> None:
        """MIDI Start (0xFA) just before the clock tick at ``at_beat`` (None: the next beat)."""
        self._send(("clock", "start", at_beat))

    def continue_clock(self, at_beat: float | None = None) -> None:
        """MIDI Continue (0xFB) at ``at_beat`` (None: the next beat)."""
        self._send(("clock", "continue", at_beat))

    def stop_clock(self) -> None:
        """MIDI Stop (0xFC) now; clock ticks keep running so followers keep the tempo."""
        self._send(("clock", "stop", None))

    def sounding(self) -> int:
        """Notes currently on."""
        return int(self.query("sounding") or 0)

    def status(self) -> dict:
        """sounding, pending, dropped (late note-ons skipped), port, api, clock_running."""
        return dict(self.query("all") or {})

    # ----- plumbing -----
    def query(self, what: str, timeout: float = 5.0):
        req = next(self._requests)
        self._send(("query", req, what))
        with self._reply_ready:
            if not self._reply_ready.wait_for(lambda: req in self._replies or not self.is_alive(), timeout):
                raise PortError("the MIDI output process does not answer")
            if req not in self._replies:
                raise PortError("the MIDI output process has stopped")
            return self._replies.pop(req)

    def _send(self, msg: tuple) -> None:
        if self._process is None or self._conn is None:
            raise PortError("the transport is not started")
        if self._closed_info is not None and msg[0] != "close":
            raise PortError(f"the MIDI output process has stopped ({self._exit_reason()})")
        with self._lock:
            try:
                self._conn.send(msg)
            except (OSError, EOFError, ValueError):
                raise PortError(f"the MIDI output process has stopped ({self._exit_reason()})") from None

    def _exit_reason(self) -> str:
        if self._closed_info:
            return self._closed_info.get("reason", "closed")
        code = self._process.exitcode if self._process is not None else None
        return f"exit code {code}"

    def _read(self) -> None:
        conn = self._conn
        while True:
            try:
                kind, *payload = conn.recv()
            except (EOFError, OSError, TypeError, ValueError):  # EOF, or closed under us
                break
            if kind == "reply":
                with self._reply_ready:
                    self._replies[payload[0]] = payload[1]
                    self._reply_ready.notify_all()
            elif kind == "closed":
                self._closed_info = payload[0]
        with self._reply_ready:
            if self._closed_info is None:
                self._closed_info = {"reason": "the output process ended"}
            self._reply_ready.notify_all()

"""MIDI sinks of the timed output process: where a due message goes.

Two ways to put a message on the wire at its time:

- :class:`RtmidiSink` sends at once (``lead_s = 0``): the playout loop wakes up
  just before the message is due and spins to the exact time. With JACK, rtmidi
  delivers it at the next period boundary (offset 0), so arrival is quantised
  to the JACK period.
- :class:`JackSink` (JACK-Client) hands messages to the JACK process callback a
  few periods early (``lead_s``); the callback writes each at its frame offset
  inside the period, so the receiver's timestamp is the intended frame.
  Frame <-> time comes from JACK's own DLL (``jack_time_to_frames``), calibrated
  against ``time.monotonic`` (the two use different clocks).
  Opt-in (``TransportOptions.jack_native=True``): the callback is Python, and when
  it misses its period (GIL held elsewhere, process descheduled) JACK drops that
  period's MIDI — measured here — which could leave a note hanging; rtmidi's C
  callback has no such risk, so rtmidi stays the default.

Both keep message order: a message is never placed before one sent earlier.
``timing`` (when a list) receives ``(intended_s, actual_s, status_byte, data1)`` per message
(JACK-native: ``actual_s`` is the time of the frame it was written at).
"""
from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import time

from . import midi_ports
from .errors import PortError

log = logging.getLogger(__name__)


class RtmidiSink:
    lead_s = 0.0
    precise = True  # the loop must spin to the exact time

    def __init__(self, name: str | None, virtual_name: str, api: str, timing: list | None = None) -> None:
        self.port = midi_ports.open_output(name, virtual_name, api)
        self.name = self.port.name
        self.api = self.port.api
        self.timing = timing

    def send(self, data: list[int], t: float) -> None:
        if self.timing is not None:
            self.timing.append((t, time.monotonic(), data[0], data[1] if len(data) > 1 else -1))
        self.port.send(data)

    def drain(self, timeout: float = 0.0) -> None:
        # rtmidi's JACK ring buffer empties on the next period the client does not miss; closing the
        # port before that loses what is in it (no way to ask rtmidi, so wait: at shut-down only)
        time.sleep(timeout)

    def close(self) -> None:
        self.port.close()


class _JackTime:
    """jack_time_to_frames / jack_frames_to_time through ctypes, plus the monotonic offset."""

    def __init__(self, client) -> None:
        import jack

        path = ctypes.util.find_library("jack") or "libjack.so.0"
        lib = ctypes.CDLL(path)
        lib.jack_get_time.restype = ctypes.c_uint64
        lib.jack_time_to_frames.restype = ctypes.c_uint32
        lib.jack_time_to_frames.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        lib.jack_frames_to_time.restype = ctypes.c_uint64
        lib.jack_frames_to_time.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        self.lib = lib
        self.ptr = ctypes.c_void_p(int(jack._ffi.cast("uintptr_t", client._ptr)))
        self.offset = 0.0  # jack seconds - monotonic seconds
        self.calibrate()

    def calibrate(self) -> None:
        best = None
        for _ in range(7):
            a = time.monotonic()
            j = self.lib.jack_get_time() * 1e-6
            b = time.monotonic()
            if best is None or b - a < best[0]:
                best = (b - a, j - (a + b) / 2)
        self.offset = best[1]

    def frames_at(self, t: float) -> int:
        return self.lib.jack_time_to_frames(self.ptr, max(0, int((t + self.offset) * 1e6)))

    def time_of(self, frames: int) -> float:
        return self.lib.jack_frames_to_time(self.ptr, frames & 0xFFFFFFFF) * 1e-6 - self.offset


class JackSink:
    """JACK-native MIDI output: frame-accurate writes from the process callback."""

    precise = False

    def __init__(self, name: str | None, virtual_name: str, timing: list | None = None) -> None:
        try:
            import jack
        except ImportError as err:
            raise PortError(f"the JACK-native output needs JACK-Client ({err}): pip install JACK-Client") from None
        try:
            self.client = jack.Client(virtual_name, no_start_server=True)
        except jack.JackError as err:
            raise PortError(f"cannot connect to the JACK server ({err})") from None
        self.api = "jack"
        self.timing = timing
        self.port = self.client.midi_outports.register("midi_out")
        self.rate = self.client.samplerate
        self.period = self.client.blocksize
        self.lead_s = max(0.006, 3.0 * self.period / self.rate)
        self._queue: collections.deque = collections.deque()
        self._last_t = 0.0
        self._clock = _JackTime(self.client)
        self._calibrated_at = time.monotonic()
        self.client.set_process_callback(self._process)
        self.client.activate()
        self.name = self.port.name
        if name is not None:
            targets = [p.name for p in self.client.get_ports(is_midi=True, is_input=True)]
            target = targets[midi_ports.find_port(targets, name, "output")]
            self.client.connect(self.port, target)
            self.name = target
        log.info("JACK-native MIDI output %s (period %d frames at %d Hz)", self.port.name, self.period, self.rate)

    def send(self, data: list[int], t: float) -> None:
        t = max(t, self._last_t)  # never before what is queued already
        self._last_t = t
        self._queue.append((t, bytes(data)))
        now = time.monotonic()
        if now - self._calibrated_at > 2.0:
            self._calibrated_at = now
            self._clock.calibrate()

    def _process(self, frames: int) -> None:
        self.port.clear_buffer()
        queue = self._queue
        if not queue:
            return
        start = self.client.last_frame_time
        last_offset = 0
        while queue:
            t, data = queue[0]
            offset = (self._clock.frames_at(t) - start) & 0xFFFFFFFF
            if offset >= 0x80000000:  # in the past (wrapped negative): as early as possible
                offset = last_offset
            elif offset >= frames:
                break
            offset = max(offset, last_offset)
            queue.popleft()
            try:
                self.port.write_midi_event(offset, data)
            except Exception:  # buffer full: leave the rest for the next period
                queue.appendleft((t, data))
                break
            last_offset = offset
            if self.timing is not None:
                self.timing.append((t, self._clock.time_of(start + offset), data[0], data[1] if len(data) > 1 else -1))

    def drain(self, timeout: float = 1.0) -> None:
        end = time.monotonic() + timeout
        while self._queue and time.monotonic() < end:
            time.sleep(0.002)
        time.sleep(2.0 * self.period / self.rate + 0.002)

    def close(self) -> None:
        self.drain()
        try:
            self.client.deactivate()
            self.client.close()
        except Exception as err:  # the server may be gone already
            log.debug("JACK close: %s", err)


class NullSink:
    lead_s = 0.0
    precise = False
    name = ""
    api = "none"

    def __init__(self, timing: list | None = None) -> None:
        self.timing = timing

    def send(self, data: list[int], t: float) -> None:
        pass

    def drain(self, timeout: float = 0.0) -> None:
        pass

    def close(self) -> None:
        pass


def open_sink(name: str | None, virtual_name: str, api: str, jack_native: bool | None,
              timing: list | None = None):
    """The sink for these options: JACK-native when asked (or auto and possible), else rtmidi."""
    if api == "none":
        return NullSink(timing)
    if jack_native:
        import sys

        sys.setswitchinterval(0.0002)  # the process callback must get the GIL well within one period
        return JackSink(name, virtual_name, timing)
    return RtmidiSink(name, virtual_name, api, timing)

"""What the live tagger listens to: the newest seconds of an input device or of a file played in time.

Both sources answer ``latest(n)`` (the last ``n`` samples heard, mono float32
at the model's rate, fewer at the start) and ``stop()``; ``seconds`` is the
audio time heard so far and ``describe`` names the source in one line.

- :class:`DeviceSource` opens a sounddevice input stream through the
  transcription plugin's helpers (device lookup, PortAudio errors as one-line
  InputErrors). The PortAudio callback only copies each block into a queue;
  ``latest`` (called on the generator's worker thread) drains the queue and
  resamples with the transcription plugin's :class:`StreamResampler` (to the
  model's rate) into a ring buffer of ``keep_seconds``.
- :class:`FileSource` decodes a whole file once (any format,
  :func:`bridge.api.read_audio`) and "plays" it against the monotonic
  clock: at wall time ``t`` after the start, what has been heard is the file up
  to ``t`` seconds (looping if asked). Nothing sounds; the host's MIDI is
  unaffected.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bridge.api import InputError

from bridge.api import read_audio

log = logging.getLogger(__name__)

BLOCK = 1024  # frames per PortAudio block: tags are made once a bar, so small blocks buy nothing


class RingBuffer:
    """The newest ``size`` samples."""

    def __init__(self, size: int) -> None:
        self.data = np.zeros(int(size), np.float32)
        self.filled = 0

    def push(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float32).reshape(-1)[-len(self.data):]
        n = len(block)
        if n:
            self.data = np.roll(self.data, -n)
            self.data[-n:] = block
            self.filled = min(len(self.data), self.filled + n)

    def latest(self, n: int) -> np.ndarray:
        n = min(int(n), self.filled)
        return self.data[len(self.data) - n:].copy()


class FileSource:
    """A decoded file heard in real time from ``start()``."""

    def __init__(self, path: str | Path, rate: int, loop: bool = False,
                 clock: Callable[[], float] | None = None) -> None:
        self.path = Path(path).expanduser()
        self.rate = int(rate)
        self.samples = read_audio(self.path, self.rate)
        if len(self.samples) == 0:
            raise InputError(f"{self.path}: no audio samples")
        self.loop = loop
        self.clock = clock or time.monotonic
        self.t0: float | None = None

    @property
    def describe(self) -> str:
        return f"file {self.path.name} ({len(self.samples) / self.rate:.1f} s{', looping' if self.loop else ''})"

    def start(self) -> "FileSource":
        self.t0 = self.clock()
        return self

    @property
    def seconds(self) -> float:
        return 0.0 if self.t0 is None else self.clock() - self.t0

    @property
    def ended(self) -> bool:
        return not self.loop and self.seconds * self.rate >= len(self.samples)

    def latest(self, n: int) -> np.ndarray:
        pos = int(self.seconds * self.rate)
        total = len(self.samples)
        if not self.loop:
            pos = min(pos, total)
            return self.samples[max(0, pos - n):pos].copy()
        if pos <= n:
            return self.samples[np.arange(pos) % total].copy()
        return self.samples[np.arange(pos - n, pos) % total].copy()

    def stop(self) -> None:
        self.t0 = None


class DeviceSource:
    """An audio input device (sounddevice), resampled into a ring buffer."""

    ended = False

    def __init__(self, device: str | int | None, rate: int, keep_seconds: float, sd: Any = None) -> None:
        from bridge.api import StreamResampler, find_device, load_sounddevice

        self.sd = sd or load_sounddevice()
        self.key, info = find_device(self.sd, device)
        self.device_name = str(info.get("name", device))
        self.device_rate = float(info.get("default_samplerate") or rate)
        self.channels = int(min(2, info.get("max_input_channels", 1)))
        self.rate = int(rate)
        self.resampler = StreamResampler(self.device_rate, target=self.rate)
        self.ring = RingBuffer(int(keep_seconds * self.rate))
        # PortAudio blocks not yet heard; bounded, so a paused tagger (no bar asked for) holds keep_seconds at most
        self.blocks: deque[np.ndarray] = deque(maxlen=int(keep_seconds * self.device_rate / BLOCK) + 1)
        self.heard = 0
        self.overflows = 0
        self._pa: Any = None

    @property
    def describe(self) -> str:
        return f"input device {self.device_name}"

    @property
    def seconds(self) -> float:
        return self.heard / self.rate

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio's thread: copy and return
        if status:
            self.overflows += 1
        self.blocks.append(np.array(indata, np.float32, copy=True))

    def start(self) -> "DeviceSource":
        from bridge.api import open_input

        self._pa = open_input(self.sd, self.key, self.device_name, self.device_rate, self.channels, BLOCK,
                              self._callback)
        log.info("tagger listening on %s at %g Hz", self.device_name, self.device_rate)
        return self

    def latest(self, n: int) -> np.ndarray:
        parts = []
        while True:
            try:
                block = self.blocks.popleft()
            except IndexError:
                break
            parts.append(self.resampler.push(block.reshape(len(block), -1).mean(axis=1)))
        if parts:
            heard = np.concatenate(parts)
            self.heard += len(heard)
            self.ring.push(heard)      # once a bar: one copy of the ring, not one per block
        return self.ring.latest(n)

    def stop(self) -> None:
        from bridge.api import close_input

        close_input(self._pa, self.device_name)
        self._pa = None


class HostSource:
    """What the host itself plays (every generator's notes, ``context.played``), rendered in-process."""

    ended = False

    def __init__(self, context: Any, rate: int, renderer: Any, clock: Callable[[], float] | None = None) -> None:
        self.context = context
        self.rate = int(rate)
        self.renderer = renderer
        self.clock = clock or time.monotonic
        self.t0 = self.clock()

    @property
    def describe(self) -> str:
        return f"the host's own notes ({self.renderer.name})"

    def start(self) -> "HostSource":
        self.t0 = self.clock()
        return self

    @property
    def seconds(self) -> float:
        return self.clock() - self.t0

    def latest(self, n: int) -> np.ndarray:
        """The last ``n`` samples of what the host played up to the clock's beat now, rendered."""
        from .render import RenderNote

        seconds_per_beat = 60.0 / float(self.context.tempo())
        seconds = n / self.rate
        now = float(self.context.now())
        begin = now - seconds / seconds_per_beat
        notes = [RenderNote((p.start - begin) * seconds_per_beat, (p.end - begin) * seconds_per_beat, p.pitch,
                            p.velocity, p.channel, p.program)
                 for p in self.context.played(begin, now) if p.start < now]
        return self.renderer.render(notes, seconds)

    def stop(self) -> None:
        self.renderer.close()

"""Live transcription from an input device (sounddevice / PortAudio), in blocks.

:class:`AudioInput` opens a ``sounddevice.InputStream``; its PortAudio callback
only copies each block into a queue. A worker thread mono-mixes the blocks,
resamples them to the model's 16 kHz and pushes them into a
:class:`~plugins.transcription.stream.StreamTranscriber`; every note started or
ended goes to ``on_note(kind, note, decided_at)`` with ``kind`` "on" or "off",
the note's times in seconds since the stream opened and ``decided_at`` the
audio time at which it was known. The added latency is one block plus the
model's look-ahead (:data:`~plugins.transcription.stream.LATENCY_SECONDS`,
80 ms): :meth:`AudioInput.latency_seconds`.

sounddevice is imported only when a stream opens (``pip install sounddevice``;
Debian also needs ``libportaudio2``). A device written ``jack`` or
``jack:<port>`` is a JACK audio input port instead (the JACK client library,
no PortAudio): ``cmt-bridge-transcription:in``, connected from ``<port>`` when
given, at the server's rate, one block per JACK period.
"""
from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

import numpy as np

from bridge.api import JackInput, StreamResampler, close_input, find_device, jack_source, load_sounddevice, open_input

from .audio import SAMPLE_RATE
from .stream import LATENCY_SECONDS, StreamTranscriber
from .tracking import ONSET_THRESHOLD, TrackedNote
from .transcriber import Transcriber

log = logging.getLogger(__name__)

BLOCK = 256  # frames per PortAudio block at the device rate
JACK_CLIENT = "cmt-bridge-transcription"
OnNote = Callable[[str, TrackedNote, float], None]


class AudioInput:
    """An input device transcribed live: ``start()``, notes arrive through ``on_note``, ``stop()``."""

    def __init__(self, model: Transcriber, on_note: OnNote, device: str | int | None = None, block: int = BLOCK,
                 onset_threshold: float = ONSET_THRESHOLD, sd: Any = None) -> None:
        self.jack: JackInput | None = None
        source = jack_source(device)
        if source is not None:
            self.jack = JackInput(JACK_CLIENT, source)
            self.device_name = f"JACK {self.jack.name}" + (f" <- {source}" if source else "")
            self.rate, self.channels, self.block = self.jack.rate, 1, self.jack.block
        else:
            self.sd = sd or load_sounddevice()
            self.key, info = find_device(self.sd, device)
            self.device_name = str(info.get("name", device))
            self.rate = float(info.get("default_samplerate") or SAMPLE_RATE)
            self.channels = int(min(2, info.get("max_input_channels", 1)))
            self.block = int(block)
        self.on_note = on_note
        self.stream = StreamTranscriber(model, onset_threshold)
        self.resampler = StreamResampler(self.rate, SAMPLE_RATE)
        self.blocks: queue.Queue[np.ndarray | None] = queue.Queue()
        self.overflows = 0
        self._pa: Any = None
        self._worker: threading.Thread | None = None
        self.error: BaseException | None = None

    @property
    def latency_seconds(self) -> float:
        """Added latency from a sound to its note-on: one block plus the model's look-ahead (compute not included)."""
        return self.block / self.rate + LATENCY_SECONDS

    def _callback(self, indata, frames, time, status) -> None:  # PortAudio's thread: copy and return
        if status:
            self.overflows += 1
        self.blocks.put(np.array(indata, np.float32, copy=True))

    def start(self) -> "AudioInput":
        if self.jack is not None:
            self._pa = self.jack.start(self._callback)
        else:
            self._pa = open_input(self.sd, self.key, self.device_name, self.rate, self.channels, self.block,
                                  self._callback)
        self._worker = threading.Thread(target=self._run, name="transcription-audio-in", daemon=True)
        self._worker.start()
        log.info("listening on %s at %g Hz, %d-frame blocks (+%.0f ms)", self.device_name, self.rate, self.block,
                 1000 * self.latency_seconds)
        return self

    def _run(self) -> None:
        try:
            while True:
                block = self.blocks.get()
                if block is None:
                    self.blocks.task_done()
                    break
                try:
                    self._block(block)
                finally:
                    self.blocks.task_done()
            for n in self.stream.close():
                self.on_note("off", n, self.stream.seconds)
        except Exception as e:  # noqa: BLE001 - kept for stop() to report; the worker must not die silently
            self.error = e
            log.error("live transcription stopped: %s", e)

    def _block(self, block: np.ndarray) -> None:
        mono = block.reshape(len(block), -1).mean(axis=1)
        started, ended = self.stream.push(self.resampler.push(mono))
        now = self.stream.seconds
        for n in ended:
            self.on_note("off", n, now)
        for n in started:
            self.on_note("on", n, now)

    def stop(self) -> None:
        """Close the device, transcribe what is queued, end the sounding note."""
        if self.jack is not None:
            self.jack.close()
        else:
            close_input(self._pa, self.device_name)
        self._pa = None
        if self._worker is not None:
            self.blocks.put(None)
            self._worker.join(timeout=30)
            self._worker = None

"""Frames + audio -> an MP4 (H.264 + AAC) with PyAV, written as the frames come (memory stays flat).

    with VideoWriter(path, size=512, fps=30, audio=(samples, rate)) as w:
        for rgb in frames:
            w.write(rgb)

The audio (mono float32) is muxed in full after the last frame; the video's
length is the number of frames written. Frames are encoded on a thread of
their own (FFmpeg releases the GIL), so rendering the next frame and encoding
this one overlap; the queue between them is short (:data:`QUEUE_FRAMES`).
Encoder errors become one-line InputErrors naming the file.
"""
from __future__ import annotations

import logging
import queue
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

from bridge.api import InputError

log = logging.getLogger(__name__)

VIDEO_CODEC = "libx264"
CRF = "20"
PRESET = "ultrafast"
AUDIO_CODEC = "aac"
AUDIO_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)   # what the AAC encoder takes
AUDIO_BLOCK = 1024
QUEUE_FRAMES = 4


def aac_rate(rate: int) -> int:
    """The AAC rate to encode ``rate`` Hz audio at (itself when allowed, else 48 kHz)."""
    return rate if rate in AUDIO_RATES else 48000


class VideoWriter:
    """An MP4 being written: :meth:`write` one RGB frame at a time, :meth:`close` muxes the audio."""

    def __init__(self, path: str | Path, size: int, fps: float, audio: tuple[np.ndarray, int] | None = None) -> None:
        import av

        self.path = Path(path)
        self.size, self.fps = int(size), float(fps)
        self.frames = 0
        try:
            self.container = av.open(str(self.path), mode="w", format="mp4")
        except (OSError, av.FFmpegError) as e:
            raise InputError(f"cannot write the video {self.path} ({e})") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        self.stream = self.container.add_stream(VIDEO_CODEC, rate=rate)
        self.stream.width = self.stream.height = self.size + (self.size % 2)   # yuv420p needs even sides
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": CRF, "preset": PRESET}
        self.stream.codec_context.thread_count = 1
        self.audio = None
        if audio is not None and len(audio[0]):
            samples, source_rate = audio
            from bridge.api import resample_audio as resample

            out_rate = aac_rate(int(source_rate))
            self.audio = (resample(np.asarray(samples, np.float32), int(source_rate), out_rate), out_rate)
            self.astream = self.container.add_stream(AUDIO_CODEC, rate=out_rate)
            self.astream.layout = "mono"
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._encode_loop, name="visuals-encode", daemon=True)
        self.thread.start()

    def write(self, rgb: np.ndarray) -> None:
        """Queue one RGB frame (uint8 [size, size, 3]) for encoding."""
        if self.error is not None:
            raise InputError(f"cannot write the video {self.path} ({self.error})")
        self.queue.put(np.array(rgb, np.uint8, copy=True))

    def _encode_loop(self) -> None:
        while True:
            rgb = self.queue.get()
            if rgb is None:
                return
            if self.error is None:
                try:
                    self._encode(rgb)
                except Exception as e:  # noqa: BLE001 - reported by write/close in the caller's thread
                    self.error = e

    def _encode(self, rgb: np.ndarray) -> None:
        import av

        if rgb.shape[0] != self.stream.height:
            rgb = np.pad(rgb, ((0, self.stream.height - rgb.shape[0]), (0, self.stream.width - rgb.shape[1]), (0, 0)),
                         mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def _mux_audio(self) -> None:
        import av

        samples, rate = self.audio
        samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
        for start in range(0, len(samples), AUDIO_BLOCK):
            block = samples[start:start + AUDIO_BLOCK]
            frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            for packet in self.astream.encode(frame):
                self.container.mux(packet)
        for packet in self.astream.encode(None):
            self.container.mux(packet)

    def close(self) -> None:
        if self.container is None:
            return
        self.queue.put(None)
        self.thread.join()
        try:
            if self.error is not None:
                raise InputError(f"cannot write the video {self.path} ({self.error})")
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            if self.audio is not None:
                self._mux_audio()
        finally:
            self.container.close()
            self.container = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

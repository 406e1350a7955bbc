"""Audio input devices for plugins that listen (sounddevice / PortAudio), and block-wise resampling.

sounddevice is imported only when a device is used (``pip install sounddevice``;
Debian also needs ``libportaudio2``); without it :func:`load_sounddevice` raises
an InputError saying what to install. Plugins reach these through :mod:`bridge.api`.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .errors import InputError

log = logging.getLogger(__name__)


def load_sounddevice() -> Any:
    """The sounddevice module, or an InputError saying what to install."""
    try:
        import sounddevice
    except ImportError:
        raise InputError("live audio input needs sounddevice: pip install sounddevice "
                         "(Debian: apt install libportaudio2)") from None
    except OSError as e:  # sounddevice raises OSError when the PortAudio library is missing
        raise InputError(f"live audio input needs PortAudio ({str(e).splitlines()[0] if str(e) else 'not found'}): "
                         "apt install libportaudio2") from None
    return sounddevice


def input_devices(sd: Any) -> list[str]:
    """'index: name' of every device with input channels."""
    try:
        devices = list(sd.query_devices())
    except Exception:  # noqa: BLE001 - PortAudio errors are not BridgeErrors; an empty list is the answer
        return []
    return [f"{i}: {d['name']}" for i, d in enumerate(devices) if d.get("max_input_channels", 0) > 0]


def find_device(sd: Any, device: str | int | None) -> tuple[Any, dict]:
    """(device for InputStream, its info); InputError listing the input devices when it does not exist."""
    key: Any = None if device in (None, "") else (int(device) if str(device).strip().isdigit() else str(device))
    try:
        info = dict(sd.query_devices(key, "input"))
    except Exception as e:  # noqa: BLE001 - ValueError / PortAudioError for an unknown device
        found = input_devices(sd)
        which = "no default input device" if key is None else f"no input device {device!r}"
        listing = "; ".join(found) if found else "none (no sound card?)"
        raise InputError(f"{which} ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                         f"input devices: {listing}") from None
    if info.get("max_input_channels", 0) < 1:
        raise InputError(f"device {device!r} has no input channels; input devices: {'; '.join(input_devices(sd))}")
    return key, info


class StreamResampler:
    """Block-wise resampling from ``rate`` to ``target`` Hz: a windowed-sinc low-pass (history
    carried), then linear interpolation."""

    def __init__(self, rate: float, target: int, taps: int = 63) -> None:
        self.rate = float(rate)
        self.target = int(target)
        self.step = self.rate / self.target  # input samples per output sample
        if self.step > 1.0:
            n = np.arange(taps) - (taps - 1) / 2
            cutoff = 0.45 / self.step  # cycles per input sample, a little under the new Nyquist
            h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
            self.fir = (h / h.sum()).astype(np.float64)
        else:
            self.fir = np.ones(1)
        self.history = np.zeros(len(self.fir) - 1)
        self.filtered = np.zeros(1)  # last filtered sample of the previous block: index -1 of the next
        self.position = 1.0  # next output position, in filtered-sample units from self.filtered[0]

    def push(self, block: np.ndarray) -> np.ndarray:
        if self.rate == self.target:
            return block.astype(np.float32)
        x = np.concatenate([self.history, block.astype(np.float64)])
        y = np.convolve(x, self.fir, mode="valid")
        self.history = x[len(x) - (len(self.fir) - 1):] if len(self.fir) > 1 else self.history
        seq = np.concatenate([self.filtered, y])
        stop = len(seq) - 1
        positions = np.arange(self.position, stop, self.step) if self.position < stop else np.zeros(0)
        out = np.interp(positions, np.arange(len(seq)), seq)
        nxt = positions[-1] + self.step if len(positions) else self.position
        self.position = nxt - stop
        self.filtered = seq[-1:]
        return out.astype(np.float32)


def open_input(sd: Any, key: Any, name: str, rate: float, channels: int, block: int, callback: Any) -> Any:
    """A started float32 ``sd.InputStream`` calling ``callback`` per block; InputError in one line if it fails."""
    try:
        stream = sd.InputStream(device=key, samplerate=rate, blocksize=block, channels=channels, dtype="float32",
                                callback=callback)
        stream.start()
    except Exception as e:  # noqa: BLE001 - PortAudioError is not a BridgeError
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"cannot open input device {name!r}: {text}") from None
    return stream


def close_input(stream: Any, name: str) -> None:
    """Stop and close a stream from :func:`open_input` (None: nothing); a failure is logged, never raised."""
    if stream is None:
        return
    try:
        stream.stop()
        stream.close()
    except Exception as e:  # noqa: BLE001 - closing must not take the caller down
        log.warning("closing %s: %s", name, e)


JACK_PREFIX = "jack"


def jack_source(device: str | int | None) -> str | None:
    """For a device written ``jack`` or ``jack:<port>``: the JACK output port to connect from ("" = none, wire it
    yourself); None for every other device (a PortAudio device)."""
    text = "" if device is None else str(device).strip()
    if text == JACK_PREFIX:
        return ""
    if text.startswith(JACK_PREFIX + ":"):
        return text[len(JACK_PREFIX) + 1:]
    return None


class JackInput:
    """One JACK audio input port through the JACK client library (JACK-Client): a real audio path into a
    plugin, as a DAW or a synth sends it, with no sound card (a dummy-driver server works too).

    ``JackInput(client_name, source)`` connects to the running server (never starts one) and registers
    ``<client_name>:in``; :meth:`start` activates it and calls ``callback(block, frames, None, None)`` (the
    sounddevice callback's shape: a float32 [frames, 1] copy) once per JACK period, on JACK's thread, and
    connects ``source`` (a port name or a regular expression, e.g. ``system:capture_1``) when given.
    :attr:`rate` and :attr:`block` are the server's. Every failure is a one-line InputError."""

    def __init__(self, client_name: str, source: str = "") -> None:
        try:
            import jack
        except ImportError as err:
            raise InputError(f"a JACK audio input needs JACK-Client ({err}): pip install JACK-Client") from None
        except OSError as err:   # the JACK library itself is missing
            raise InputError(f"a JACK audio input needs libjack ({str(err).splitlines()[0]}): "
                             "apt install libjack-jackd2-0") from None
        self._jack = jack
        try:
            self.client = jack.Client(client_name, no_start_server=True)
        except jack.JackError as err:
            raise InputError(f"no JACK server to listen to ({str(err).splitlines()[0]}): start one "
                             "(jackd -d alsa, or jackd -d dummy) or use a PortAudio device") from None
        self.source = source
        self.port = self.client.inports.register("in")
        self.name = self.port.name
        self.rate = float(self.client.samplerate)
        self.block = int(self.client.blocksize)
        self.xruns = 0
        self._callback: Any = None
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    def _process(self, frames: int) -> None:   # JACK's thread: copy the period and return
        cb = self._callback
        if cb is not None:
            cb(self.port.get_array().astype(np.float32).reshape(-1, 1), frames, None, None)

    def _xrun(self, delay: float) -> None:
        self.xruns += 1

    def start(self, callback: Any) -> "JackInput":
        self._callback = callback
        self.client.activate()
        if self.source:
            ports = self.client.get_ports(self.source, is_audio=True, is_output=True)
            if not ports:
                outs = [p.name for p in self.client.get_ports(is_audio=True, is_output=True)]
                self.close()
                raise InputError(f"no JACK audio output port matches {self.source!r}; audio outputs: "
                                 f"{', '.join(outs) if outs else 'none'}")
            self.client.connect(ports[0], self.port)
            log.info("%s <- %s", self.name, ports[0].name)
        return self

    def close(self) -> None:
        """Deactivate and leave the server (a failure is logged, never raised)."""
        self._callback = None
        try:
            self.client.deactivate()
            self.client.close()
        except Exception as e:  # noqa: BLE001 - closing must not take the caller down
            log.warning("closing %s: %s", self.name, e)

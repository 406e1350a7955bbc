"""MIDI ports through python-rtmidi: listing, opening by name, virtual ports, API choice.

``api`` is one of ``auto | jack | alsa | coremidi | winmm | none``. ``auto`` picks
JACK when a JACK server runs (or ``MIDO_BACKEND`` names ``UNIX_JACK``), else the
platform's own API (ALSA, CoreMIDI, WinMM), falling back to JACK when that fails.
``none`` opens nothing: sends go nowhere (OSC / recording only).

A port is opened by name: an exact name wins, else a unique case-insensitive
substring (``--midi-out loop`` finds ``loopMIDI Port 1``). ``name=None`` opens a
virtual port other programs connect to (what Ableton Live sees as ``cmt-bridge``);
WinMM has no virtual ports, hence the loopMIDI advice in the error.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from typing import Callable, Iterator

from .errors import PortError

log = logging.getLogger(__name__)

API_NAMES = ("auto", "jack", "alsa", "coremidi", "winmm", "none")
InputCallback = Callable[[list, float], None]  # (message bytes, monotonic receive time in s)


def _rtmidi():
    try:
        import rtmidi
    except ImportError as err:  # pragma: no cover - a dependency
        raise PortError(f"python-rtmidi is not installed ({err}): pip install python-rtmidi") from None
    return rtmidi


def _api_constant(api: str) -> int:
    rtmidi = _rtmidi()
    return {
        "jack": rtmidi.API_UNIX_JACK,
        "alsa": rtmidi.API_LINUX_ALSA,
        "coremidi": rtmidi.API_MACOSX_CORE,
        "winmm": rtmidi.API_WINDOWS_MM,
    }[api]


def jack_server_running() -> bool:
    """True when the JACK server named by JACK_DEFAULT_SERVER (or 'default') has its socket up."""
    server = os.environ.get("JACK_DEFAULT_SERVER", "default")
    if sys.platform.startswith("linux"):
        return os.path.exists(f"/dev/shm/jack_{server}_{os.getuid()}_0")
    if sys.platform == "darwin":
        return any(os.path.exists(f"{d}/jack_{server}_{os.getuid()}_0") for d in ("/tmp", os.environ.get("TMPDIR", "/tmp")))
    return False


def platform_api() -> str:
    if sys.platform.startswith("linux"):
        return "alsa"
    if sys.platform == "darwin":
        return "coremidi"
    if sys.platform.startswith("win"):
        return "winmm"
    return "jack"


def candidate_apis(api: str = "auto") -> list[str]:
    """The APIs to try, in order, for ``api`` (one entry unless ``auto``)."""
    if api not in API_NAMES:
        raise PortError(f"unknown MIDI API {api!r} (choose from: {', '.join(API_NAMES)})")
    if api != "auto":
        return [api]
    compiled = {_rtmidi().get_api_name(a) for a in _rtmidi().get_compiled_api()}
    jack_first = jack_server_running() or "UNIX_JACK" in os.environ.get("MIDO_BACKEND", "")
    order = ["jack", platform_api()] if jack_first else [platform_api(), "jack"]
    order = [a for i, a in enumerate(order) if a not in order[:i]]
    return [a for a in order if a in compiled] or order[:1]


#: what the ALSA and JACK C libraries print on stderr while a MIDI system is probed (the error that
#: follows says it in one line)
C_NOISE = ("ALSA lib ", "Cannot connect to server", "jack server is not running", "JackShmReadWritePtr",
           "Cannot read socket", "Cannot open ", "JackClient::", "Jack: ", "jack_client_new", "Unable to connect")


@contextlib.contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """Hold back what C libraries write to file descriptor 2 meanwhile: the ALSA / JACK probe noise is
    dropped (logged at DEBUG), any other line is written back afterwards."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no real fd 2 (embedded, tests capturing it): nothing to do
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode(errors="replace")
            kept = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(C_NOISE)]
            if text.strip():
                log.debug("MIDI probe said on stderr: %s", text.strip())
            if kept:
                os.write(2, ("\n".join(kept) + "\n").encode())


def _make(kind: str, api: str, client_name: str):
    rtmidi = _rtmidi()
    try:
        with quiet_c_stderr():
            if kind == "output":
                return rtmidi.MidiOut(_api_constant(api), client_name)
            return rtmidi.MidiIn(_api_constant(api), client_name, queue_size_limit=4096)
    except (rtmidi.RtMidiError, RuntimeError) as err:
        raise PortError(f"cannot open the {api} MIDI system ({err})") from None


def _open_first(kind: str, api: str, client_name: str):
    """An rtmidi object for the first API of ``api`` that opens; returns (object, api name)."""
    errors = []
    for candidate in candidate_apis(api):
        try:
            return _make(kind, candidate, client_name), candidate
        except PortError as err:
            errors.append(str(err))
    hint = " (start a JACK server, or choose another MIDI system: --api jack|alsa|none)" if api == "auto" else ""
    raise PortError("; ".join(errors) + hint)


def list_ports(api: str = "auto") -> dict:
    """``{"api": name, "inputs": [...], "outputs": [...]}`` for the API ``api`` resolves to."""
    if candidate_apis(api) == ["none"]:
        return {"api": "none", "inputs": [], "outputs": []}
    out, used = _open_first("output", api, "cmt-bridge-list")
    inp = _make("input", used, "cmt-bridge-list")
    try:
        return {"api": used, "inputs": list(inp.get_ports()), "outputs": list(out.get_ports())}
    finally:
        out.delete()
        inp.delete()


def find_port(names: list[str], wanted: str, kind: str) -> int:
    """Index of the port called ``wanted`` (exact, else unique case-insensitive substring)."""
    if wanted in names:
        return names.index(wanted)
    hits = [i for i, n in enumerate(names) if wanted.lower() in n.lower()]
    if len(hits) == 1:
        return hits[0]
    have = ", ".join(names) if names else "none"
    if not hits:
        raise PortError(f"no MIDI {kind} port matching {wanted!r} (have: {have})")
    raise PortError(f"MIDI {kind} port name {wanted!r} is ambiguous (matches: {', '.join(names[i] for i in hits)})")


class MidiPort:
    """An open rtmidi port: ``send(message)`` for outputs, ``close()`` for both."""

    def __init__(self, handle, api: str, name: str, kind: str) -> None:
        self._handle = handle
        self.api = api
        self.name = name  # the name other programs see / connect to
        self.kind = kind
        self.closed = False

    def send(self, message) -> None:
        if not self.closed:
            self._handle.send_message(message)

    def get_message(self):
        """Input ports without a callback: ``(message, delta_s)`` or None (rtmidi's queue)."""
        return None if self.closed else self._handle.get_message()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.kind == "input":
                self._handle.cancel_callback()
            self._handle.close_port()
        finally:
            self._handle.delete()

    def __repr__(self) -> str:
        return f"<MidiPort {self.kind} {self.name!r} ({self.api})>"


class NullPort:
    """api='none': accepts and drops everything."""

    api = "none"
    name = ""
    closed = False

    def __init__(self, kind: str = "output") -> None:
        self.kind = kind

    def send(self, message) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _open(kind: str, name: str | None, virtual_name: str, api: str, callback: InputCallback | None):
    if candidate_apis(api) == ["none"]:
        return NullPort(kind)
    rtmidi = _rtmidi()
    handle, used = _open_first(kind, api, virtual_name)
    try:
        if kind == "input":
            handle.ignore_types(sysex=True, timing=False, active_sense=True)
            if callback is not None:
                handle.set_callback(lambda event, _data: callback(event[0], time.monotonic()))
        if name is None:
            port_name = virtual_name if used != "jack" else ("midi_out" if kind == "output" else "midi_in")
            try:
                handle.open_virtual_port(port_name)
            except (rtmidi.RtMidiError, NotImplementedError) as err:
                if used == "winmm":
                    raise PortError(
                        "Windows MIDI (WinMM) has no virtual ports: install loopMIDI, create a port "
                        f"and pass its name with --midi-{'out' if kind == 'output' else 'in'} NAME"
                    ) from None
                raise PortError(f"cannot open virtual MIDI {kind} {virtual_name!r} ({used}): {err}") from None
            full = f"{virtual_name}:{port_name}" if used == "jack" else virtual_name
            log.info("opened virtual MIDI %s %r (%s)", kind, full, used)
            return MidiPort(handle, used, full, kind)
        names = list(handle.get_ports())
        index = find_port(names, name, kind)
        try:
            handle.open_port(index, virtual_name)
        except rtmidi.RtMidiError as err:
            raise PortError(f"cannot open MIDI {kind} {names[index]!r} ({used}): {err}") from None
        log.info("opened MIDI %s %r (%s)", kind, names[index], used)
        return MidiPort(handle, used, names[index], kind)
    except BaseException:
        handle.delete()
        raise


def open_output(name: str | None, virtual_name: str = "cmt-bridge", api: str = "auto") -> MidiPort | NullPort:
    """Open the output port ``name`` (None: a virtual port called ``virtual_name``)."""
    return _open("output", name, virtual_name, api, None)


def open_input(name: str | None, virtual_name: str = "cmt-bridge-in", api: str = "auto",
               callback: InputCallback | None = None) -> MidiPort | NullPort:
    """Open the input port ``name`` (None: virtual).

    ``callback(message, t_monotonic)`` runs on rtmidi's thread (with JACK: the process
    thread, waiting for the GIL — late callbacks were seen to corrupt messages);
    without a callback, read with ``port.get_message()`` (what MidiInput does).
    """
    return _open("input", name, virtual_name, api, callback)

"""OSC control: one schema table, generated from the generators, used to document and to validate.

Layers (as python-osc keeps them): UDP datagram -> parse (python-osc's
``OscPacket``; malformed packets are answered, not silently dropped) ->
**validate** against :class:`OscSchema` (address known, argument count,
types, ranges, choices) -> dispatch to a handler. Nothing acts on a message
that failed validation; every rejection is answered on
``/cmt/error <address> <reason>`` at the reply address.

Whatever one datagram raises stays with that datagram (answered or counted);
urgent control jumps the queue (:mod:`bridge.intake`); rejections are reported
rate-limited (:mod:`bridge.ratelimit`). See docs/host.md, "OSC under load".

This is the one place where control is validated: the web surface
(:mod:`bridge.web`) hands its WebSocket messages, parsed from JSON, to
:meth:`OscControl.submit`, which queues them with the datagrams; they meet the
same :meth:`OscControl.dispatch` and :meth:`OscSchema.check`. Everything sent
back (:meth:`OscControl.send`) also goes to the :attr:`OscControl.listeners`.

``cmt-bridge osc-schema`` prints :meth:`OscSchema.describe` as JSON, so Max
patches and the docs can be checked against the same table the host enforces.
"""
from __future__ import annotations

import logging
import math
import socket
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .config import DEFAULT_OSC_PORT, DEFAULT_REPLY_PORT, LOOPBACK, allow_networks, peer_allowed
from .errors import BridgeError, InputError, PortError
from .generator import Generator, Param
from .intake import MAX_BACKLOG, Intake
from .ratelimit import RateLimit

log = logging.getLogger(__name__)

PREFIX = "/cmt"
MAX_DATAGRAM = 65536
RECV_BUFFER = 1 << 20     # bytes of socket receive buffer asked for (the kernel may give less)


@dataclass(frozen=True)
class Address:
    """One OSC address: its arguments (the first ``required`` of them mandatory) and what it does."""

    path: str
    args: tuple[Param, ...] = ()
    required: int = 0
    doc: str = ""
    kind: str = "host"            # host | param | action | out
    generator: str | None = None
    target: str | None = None     # the parameter or action name

    def describe(self) -> dict:
        args = []
        for i, p in enumerate(self.args):
            d = p.describe()
            d["optional"] = i >= self.required
            args.append(d)
        out = {"address": self.path, "direction": "out" if self.kind == "out" else "in",
               "kind": self.kind, "args": args, "doc": self.doc}
        if self.generator:
            out["generator"] = self.generator
        return out


def _arg(name: str, type_: type, default: Any, lo=None, hi=None, doc: str = "", choices=(), unit="") -> Param:
    return Param(name, type_, default, lo, hi, unit=unit, doc=doc, choices=tuple(choices))


def _host_addresses(names: list[str]) -> list[Address]:
    gen = dict(choices=tuple(names)) if names else {}
    first = names[0] if names else ""
    g = lambda doc: _arg("generator", str, first, doc=doc, **gen)  # noqa: E731
    return [
        Address(f"{PREFIX}/play", (g("generator to start"),
                                   _arg("replace", str, "", doc="generator to hand over to it at the launch "
                                        "bar ('*' = every other one); '' = none")),
                1, "start a generator from the next bar (launch quantized)"),
        Address(f"{PREFIX}/stop", (_arg("generator", str, "", doc="generator to stop; omit for all"),), 0,
                "stop a generator (or all) now; its sounding notes end"),
        Address(f"{PREFIX}/panic", (), 0, "stop everything: note-off for every sounding note, all-notes-off"),
        Address(f"{PREFIX}/tempo", (_arg("bpm", float, 120.0, 20.0, 300.0, unit="BPM", doc="tempo"),), 1,
                "set the tempo (beat position stays continuous)"),
        Address(f"{PREFIX}/sync", (_arg("beat", float, 0.0, 0.0, None, unit="beats",
                                        doc="the DAW's song position (Live: current_song_time)"),
                                   _arg("bpm", float, 0.0, 0.0, 300.0, unit="BPM", doc="its tempo; 0 = keep ours")),
                1, "follow a DAW's bar phase (and tempo): the host's beat moves by less than half a bar to sit "
                   "where the DAW's sits in its bar (the Live devices send it ten times a second)"),
        Address(f"{PREFIX}/status", (), 0, "ask for /cmt/status <json>"),
        Address(f"{PREFIX}/learn", (g("generator"), _arg("param", str, "", doc="parameter name")), 2,
                "the next MIDI CC that moves binds to generator.param"),
        Address(f"{PREFIX}/reload", (_arg("generator", str, "", doc="generator to reload; omit for all playing"),),
                0, "reload a generator's models from disk and hot-swap it at the next bar"),
    ]


_OUT = [
    Address(f"{PREFIX}/error", (_arg("address", str, "", doc="the rejected address (or the failing generator's)"),
                                _arg("reason", str, "", doc="one line")), 2, "a rejected message or a failure",
            "out"),
    Address(f"{PREFIX}/progress", (_arg("task", str, "", doc="generator/task"),
                                   _arg("fraction", float, 0.0, 0.0, 1.0)), 2, "long work in progress", "out"),
    Address(f"{PREFIX}/info", (_arg("generator", str, ""), _arg("text", str, "", doc="one line")), 2,
            "what a generator wants the player to know (a video started or ended, a camera took over)", "out"),
    Address(f"{PREFIX}/status", (_arg("json", str, "{}", doc="tempo, beat, generators, params, cc"),), 1,
            "reply to /cmt/status", "out"),
    Address(f"{PREFIX}/note", (_arg("generator", str, ""), _arg("pitch", int, 60, 0, 127),
                               _arg("velocity", int, 64, 1, 127), _arg("duration_ms", int, 0, 0, None),
                               _arg("channel", int, 1, 1, 16)), 5, "a note, sent when it starts", "out"),
    Address(f"{PREFIX}/beat", (_arg("n", int, 0, 0, None),), 1, "every beat while the clock runs", "out"),
    Address(f"{PREFIX}/learned", (_arg("generator", str, ""), _arg("param", str, ""),
                                  _arg("channel", int, 1, 1, 16), _arg("cc", int, 0, 0, 127)), 4,
            "a CC was bound by /cmt/learn", "out"),
]


class OscSchema:
    """Every address the host accepts (and sends), built from the generator classes."""

    def __init__(self, generators: dict[str, type[Generator]]):
        self.generators = dict(generators)
        self.inbound: dict[str, Address] = {a.path: a for a in _host_addresses(sorted(generators))}
        for name, cls in sorted(generators.items()):
            for p in cls.params:
                self.inbound[f"{PREFIX}/{name}/{p.name}"] = Address(
                    f"{PREFIX}/{name}/{p.name}", (p,), 1, p.doc or f"set {name}'s {p.name}", "param", name, p.name)
            for a in cls.actions:
                # action arguments are optional: missing trailing ones take their defaults (Action.bind)
                self.inbound[f"{PREFIX}/{name}/{a.name}"] = Address(
                    f"{PREFIX}/{name}/{a.name}", tuple(a.args), 0, a.doc or f"{name} {a.name}",
                    "action", name, a.name)
        self.outbound = {a.path: a for a in _OUT}
        for name, cls in sorted(generators.items()):
            for m in cls.messages:
                path = f"{PREFIX}/{name}/{m.name}"
                self.outbound[path] = Address(path, tuple(m.args), len(m.args), m.doc or f"{name} {m.name}",
                                              "out", name, m.name)

    def describe(self) -> dict:
        return {"listen": f"{LOOPBACK}:{DEFAULT_OSC_PORT}", "reply": f"{LOOPBACK}:{DEFAULT_REPLY_PORT}",
                "in": [a.describe() for a in self.inbound.values()],
                "out": [a.describe() for a in self.outbound.values()],
                "generators": {n: c.describe() for n, c in sorted(self.generators.items())}}

    def check(self, path: str, args: Iterable[Any]) -> tuple[Address, list[Any]]:
        """Validate one message: returns (address, coerced values) or raises InputError(reason)."""
        entry = self.inbound.get(path)
        if entry is None:
            raise InputError(self._unknown(path))
        args = list(args)
        if len(args) < entry.required or len(args) > len(entry.args):
            want = (f"{entry.required}" if entry.required == len(entry.args)
                    else f"{entry.required}..{len(entry.args)}")
            names = " ".join(p.name if i < entry.required else f"[{p.name}]" for i, p in enumerate(entry.args))
            raise InputError(f"takes {want} argument(s) ({names or 'none'}), got {len(args)}")
        values = [check_value(p, v) for p, v in zip(entry.args, args)]
        values += [p.default for p in entry.args[len(args):]]
        return entry, values

    def _unknown(self, path: str) -> str:
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == PREFIX[1:] and parts[2] in self.generators:
            cls = self.generators[parts[2]]
            names = [p.name for p in cls.params] + [a.name for a in cls.actions]
            return f"{parts[2]} has no parameter or action {parts[3]!r} (has: {', '.join(names)})"
        if len(parts) >= 3 and parts[1] == PREFIX[1:] and len(parts) == 4:
            return f"no generator {parts[2]!r} (have: {', '.join(sorted(self.generators)) or 'none'})"
        return "unknown address (see cmt-bridge osc-schema)"


_KIND = {int: "an int", float: "a float", str: "a string", bool: "a bool"}


def _osc_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string", bytes: "blob", type(None): "nil",
            list: "array"}.get(type(value), type(value).__name__)


def check_value(p: Param, value: Any) -> Any:
    """Type-check an OSC argument strictly (Max/Pd send floats for ints: integral floats pass)."""
    t = p.type
    ok = False
    if t is str:
        ok = isinstance(value, str)
    elif t is bool:
        ok = isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1))
    elif t is int:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    elif t is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and not math.isfinite(value):
            raise InputError(f"{p.name} must be a finite number, got {value!r}")
    if not ok:
        raise InputError(f"{p.name} must be {_KIND[t]}, got {_osc_kind(value)} {value!r}")
    try:
        return p.coerce(value)
    except BridgeError as e:
        raise InputError(str(e)) from None


def build_message(address: str, args: Iterable[Any]) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    b = OscMessageBuilder(address)
    for a in args:
        if isinstance(a, bool):
            b.add_arg(int(a), "i")
        elif isinstance(a, int):
            b.add_arg(a, "i")
        elif isinstance(a, float):
            b.add_arg(a, "f")
        else:
            b.add_arg(str(a), "s")
    return b.build().dgram


Handler = Callable[[Address, list[Any]], None]
Listener = Callable[[str, tuple], None]


class OscControl:
    """The UDP control endpoint: receive, validate, dispatch; send replies.

    Two threads: ``cmt-osc-recv`` only drains the socket into two queues (urgent
    control first, everything else in a bounded backlog), ``cmt-osc`` parses,
    validates and dispatches. Counters (:meth:`stats`) go into ``/cmt/status``.
    """

    def __init__(self, schema: OscSchema, handler: Handler, host: str = LOOPBACK, port: int = DEFAULT_OSC_PORT,
                 reply: tuple[str, int] = (LOOPBACK, DEFAULT_REPLY_PORT), allow: Iterable[str] = (),
                 limit: RateLimit | None = None):
        self.schema = schema
        self.handler = handler
        self.host, self.port = host, port
        self.reply = reply
        self.allow = allow_networks(list(allow))
        self.limit = limit or RateLimit()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._send_lock = threading.Lock()
        self._intake = Intake()
        #: called with (address, args) for every message sent back (the web surface's pages get them too)
        self.listeners: list[Listener] = []
        self.counts = {"received": 0, "handled": 0, "rejected": 0, "malformed": 0, "failed": 0, "dropped": 0,
                       "refused": 0}

    @property
    def rejected(self) -> int:
        return self.counts["rejected"]

    def stats(self) -> dict:
        """Datagrams received / handled, messages rejected, malformed datagrams, handler failures, datagrams
        dropped because the backlog was full, senders refused by the allow-list, reports suppressed."""
        return {**self.counts, "suppressed": self.limit.suppressed_total, "backlog": len(self._intake)}

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "OscControl":
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise PortError(f"cannot listen for OSC on {self.host}:{self.port} ({e.strerror}); "
                            f"is another cmt-bridge running? use --osc-port") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        except OSError:
            pass
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self._sock = sock
        self._threads = [threading.Thread(target=self._receive, name="cmt-osc-recv", daemon=True),
                         threading.Thread(target=self._serve, name="cmt-osc", daemon=True)]
        for t in self._threads:
            t.start()
        log.info("OSC control on %s:%d, replies to %s:%d", self.host, self.port, *self.reply)
        return self

    def close(self) -> None:
        self._closing.set()
        self._intake.close()
        for t in self._threads:
            t.join(2.0)
        if self._sock:
            self._sock.close()
            self._sock = None

    # -- sending -----------------------------------------------------------
    def send(self, address: str, *args: Any) -> None:
        data = build_message(address, args)
        sock = self._sock
        try:
            if sock is not None:
                with self._send_lock:
                    sock.sendto(data, self.reply)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.sendto(data, self.reply)
        except OSError as e:
            log.debug("OSC reply to %s:%d failed: %s", *self.reply, e)
        for listener in list(self.listeners):
            try:
                listener(address, args)
            except Exception:  # a listener's bug must not stop a reply
                log.debug("OSC listener failed", exc_info=True)

    def error(self, address: str, reason: str) -> None:
        """Report a failure (always: failures of the host or a plugin are rare and all matter)."""
        if len(address) > 120 or not address.isprintable():   # a hostile address: one short line
            address = repr(address[:120])
        reason = " ".join(str(reason).split())[:500]
        log.warning("OSC %s: %s", address, reason)
        self.send(f"{PREFIX}/error", address, reason)

    def reject(self, address: str, reason: str) -> None:
        """Report a rejected message, rate-limited per address (see :mod:`bridge.ratelimit`)."""
        self.counts["rejected"] += 1
        if self.limit.allow(address):
            self.error(address, reason)

    def _summarise(self) -> None:
        line = self.limit.summary()
        if line:
            self.error(PREFIX, line)

    def progress(self, task: str, fraction: float) -> None:
        self.send(f"{PREFIX}/progress", task, float(min(1.0, max(0.0, fraction))))

    def info(self, generator: str, text: str) -> None:
        self.send(f"{PREFIX}/info", generator, " ".join(str(text).split()))

    # -- receiving ---------------------------------------------------------
    def _allowed(self, ip: str) -> bool:
        return peer_allowed(ip, self.allow)

    def submit(self, path: str, args: list[Any]) -> bool:
        """Queue a message another transport has parsed (the web surface's JSON) with the datagrams:
        the same urgency table, thread, validation (:meth:`OscSchema.check`) and handler.
        False when the backlog is full (counted as dropped, like a datagram)."""
        self.counts["received"] += 1
        if self._intake.put((str(path), list(args))):
            return True
        self.counts["dropped"] += 1
        return False

    def _receive(self) -> None:
        """Drain the socket as fast as it fills: classify, queue, wake the handler; nothing else."""
        sock = self._sock
        if sock is None:
            return
        while not self._closing.is_set():
            try:
                data, peer = sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError:
                if self._closing.is_set():
                    return
                continue
            self.counts["received"] += 1
            if not self._allowed(peer[0]):
                self.counts["refused"] += 1
                if self.limit.allow("(refused)"):
                    log.warning("OSC from %s ignored: not in the allow-list", peer[0])
                continue
            if not self._intake.put(data):
                self.counts["dropped"] += 1
                if self.limit.allow("(backlog full)"):
                    log.warning("OSC backlog full (%d datagrams waiting): dropping datagrams", MAX_BACKLOG)

    def _serve(self) -> None:
        while not self._closing.is_set():
            item = self._intake.get(0.2)
            if isinstance(item, bytes):
                self.handle_datagram(item)
            elif item is not None:
                self.handle_message(*item)
            self._summarise()

    def handle_datagram(self, data: bytes) -> None:
        """Parse, validate and dispatch one datagram (public for tests and other transports).

        Never raises: whatever one datagram causes is answered (where its address can be read) or counted.
        """
        try:
            self._handle(data)
        except Exception as e:  # a bug or a parser surprise must not kill the control thread
            self.counts["failed"] += 1
            log.debug("OSC datagram failed", exc_info=True)
            self.reject(_guess_address(data), f"cannot handle this datagram ({type(e).__name__}: "
                                              f"{' '.join(str(e).split())[:120]})")
        else:
            self.counts["handled"] += 1

    def handle_message(self, path: str, args: list[Any]) -> None:
        """Validate and dispatch one parsed message (from :meth:`submit`); never raises."""
        try:
            self.dispatch(path, args)
        except Exception as e:  # dispatch answers what it knows; anything else is counted, not fatal
            self.counts["failed"] += 1
            log.debug("message %r failed", path, exc_info=True)
            self.reject(str(path)[:64], f"cannot handle this message ({type(e).__name__})")
        else:
            self.counts["handled"] += 1

    def _handle(self, data: bytes) -> None:
        from pythonosc.osc_packet import OscPacket

        try:
            packet = OscPacket(data)
        except Exception as e:  # ParseError, and what the parser lets through (UnicodeDecodeError, RecursionError)
            self.counts["malformed"] += 1
            reason = " ".join(str(e).split())[:120] or type(e).__name__
            self.reject(_guess_address(data), f"malformed OSC packet ({reason})")
            return
        for timed in packet.messages:
            msg = timed.message
            self.dispatch(msg.address, list(msg.params))

    def dispatch(self, path: str, args: list[Any]) -> None:
        try:
            entry, values = self.schema.check(path, args)
        except InputError as e:
            self.reject(path, str(e))
            return
        try:
            self.handler(entry, values)
        except BridgeError as e:
            self.reject(path, str(e))
        except Exception as e:  # a bug must not kill the control thread
            self.counts["failed"] += 1
            log.exception("OSC %s failed", path)
            self.error(path, f"internal error: {type(e).__name__}: {e}")


def _guess_address(data: bytes) -> str:
    """The address of a datagram that did not parse, when it looks like one (for the error reply)."""
    if data[:1] != b"/":
        return "?"
    head = data.split(b"\0", 1)[0][:64].decode("utf-8", "replace")
    return head if head.isprintable() else "?"

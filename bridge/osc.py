"""OSC control: one schema table, generated from the generators, used to document and to validate.

Layers (as python-osc keeps them): UDP datagram -> parse (python-osc's
``OscPacket``; malformed packets are answered, not silently dropped) ->
**validate** against :class:`~bridge.oscschema.OscSchema` (address known, argument count,
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
import socket
import threading
from typing import Any, Callable, Iterable

from .config import DEFAULT_OSC_PORT, DEFAULT_REPLY_PORT, LOOPBACK, allow_networks, peer_allowed
from .errors import BridgeError, InputError, PortError
from .intake import MAX_BACKLOG, Intake
from .oscschema import Address, OscSchema, check_value  # noqa: F401 (the schema's home; imported from here too)
from .ratelimit import RateLimit

log = logging.getLogger(__name__)

PREFIX = "/cmt"
MAX_DATAGRAM = 65536
RECV_BUFFER = 1 << 20     # bytes of socket receive buffer asked for (the kernel may give less)


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

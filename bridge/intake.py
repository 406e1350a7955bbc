"""The queue between the OSC socket and the handler: urgent control first, a bounded backlog for the rest.

During a flood (thousands of datagrams a second) the handler may fall behind.
The reader thread only classifies each datagram by its address bytes (no
parsing) and puts it here: ``/cmt/stop``, ``/cmt/panic``, ``/cmt/status`` and
``/cmt/tempo`` and ``/cmt/sync`` jump the queue, everything else waits in a backlog of at most
``limit`` datagrams (more are refused and counted). So the control that
matters acts within one handler step, however deep the backlog is.

Other transports (the web surface's WebSocket, :mod:`bridge.web`) queue messages they have
already parsed, as ``(address, args)`` tuples, into the same intake: they are classified by
the same table and handled by the same thread, validation and dispatch as a datagram.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Union

PREFIX = b"/cmt"
#: control that must act at once even during a flood
URGENT = frozenset(PREFIX + b"/" + verb for verb in (b"stop", b"panic", b"status", b"tempo", b"sync"))
MAX_BACKLOG = 4096        # datagrams waiting to be handled

#: what waits here: an OSC datagram, or a message another transport parsed (address, args)
Item = Union[bytes, "tuple[str, list[Any]]"]


def is_urgent(data: bytes) -> bool:
    """True for a plain message (not a bundle) to one of the :data:`URGENT` addresses."""
    return data.split(b"\0", 1)[0] in URGENT


def _urgent_item(item: Item) -> bool:
    if isinstance(item, bytes):
        return is_urgent(item)
    return item[0].encode("utf-8", "replace") in URGENT


class Intake:
    """Thread-safe: one reader calls :meth:`put`, one handler calls :meth:`get`."""

    def __init__(self, limit: int = MAX_BACKLOG) -> None:
        self.limit = limit
        self._urgent: deque[Item] = deque()
        self._backlog: deque[Item] = deque()
        self._ready = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._urgent) + len(self._backlog)

    def put(self, data: Item) -> bool:
        """Queue one datagram (or parsed message); False when the backlog is full (it is not kept)."""
        if _urgent_item(data):
            self._urgent.append(data)
        elif len(self._backlog) >= self.limit:
            return False
        else:
            self._backlog.append(data)
        with self._ready:
            self._ready.notify()
        return True

    def get(self, timeout: float) -> Item | None:
        """The next datagram or message (urgent ones first), or None after ``timeout`` seconds / on close."""
        for _ in range(2):
            if self._urgent:
                return self._urgent.popleft()
            if self._backlog:
                return self._backlog.popleft()
            with self._ready:
                if self._closed or self._urgent or self._backlog:
                    continue
                self._ready.wait(timeout)
        return None

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

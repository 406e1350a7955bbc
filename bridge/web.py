"""The browser control surface: ``cmt-bridge run --web [PORT]`` serves a page and a WebSocket on one port.

The page (``bridge/static/``: plain HTML, JS and CSS, no build step, nothing
from a CDN) builds its controls at run time from the same schema as the OSC
table and the Max patches (``/surface.json`` = ``cmt-bridge osc-schema`` of the
loaded generators, plus the piano roll's palette), so a new plugin needs no UI
code. The WebSocket carries the OSC messages as JSON::

    page -> host   {"address": "/cmt/midime/temperature", "args": [0.8]}
    host -> page   {"address": "/cmt/note", "args": ["midime", 60, 100, 250, 1]}

A page's message is only parsed here (JSON, an address, a list of arguments)
and handed to :meth:`bridge.osc.OscControl.submit`: it waits in the OSC intake
with the datagrams and meets the same validation (``OscSchema.check``) and
dispatch; its rejection comes back as ``/cmt/error``. Everything the host sends
on OSC reaches the pages too (``OscControl.listeners``), and the output process
copies ``/cmt/note`` and ``/cmt/beat`` to this surface's UDP tap, so the pages
see what plays when it plays. ``/cmt/status`` is pushed every second (and just
after a page's message) while a page is open.

The server (the ``websockets`` library) runs in its own thread with its own
asyncio loop: it never blocks the host, and when it fails it logs one line and
the host plays on. Who may connect: :mod:`bridge.webguard`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from .config import DEFAULT_WEB_PORT, LOOPBACK
from .errors import PortError
from .webguard import Guard

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".frag": "text/plain; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
MAX_MESSAGE = 64 * 1024        # bytes of one page message (a file path, a note list)
MAX_BUFFER = 1 << 20           # bytes queued to one slow page before it misses messages
STATUS_EVERY_S = 1.0
STATUS_AFTER_S = 0.12          # a status push this long after a page's message (its effect shows)
START_TIMEOUT_S = 10.0
TAP_ADDRESSES = ("/cmt/note", "/cmt/beat")
HEADERS = [("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
           ("Content-Security-Policy", "default-src 'self'; connect-src 'self'; frame-ancestors 'none'"),
           ("Referrer-Policy", "no-referrer")]


class WebSurface:
    """The page + WebSocket server. Thread-safe: :meth:`publish` may be called from any thread."""

    def __init__(self, host: str = LOOPBACK, port: int = DEFAULT_WEB_PORT, allow: list[str] | tuple = ()):
        self.host, self.port = host, int(port)
        self.guard = Guard.for_host(host, list(allow))
        self.schema: dict = {}
        self.submit: Callable[[str, list], bool] = lambda path, args: False
        self.status: Callable[[], dict] | None = None
        self.clients: set = set()
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: str | None = None
        self._status_soon = False
        # the output process's copy of /cmt/note and /cmt/beat arrives here (bound now: the transport
        # starts before the host, and needs this address)
        self._tap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tap.bind((LOOPBACK, 0))
        self._tap.setblocking(False)

    @property
    def tap_address(self) -> tuple[str, int]:
        return self._tap.getsockname()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        token = f"?token={self.guard.token}" if self.guard.token else ""
        return f"http://{host}:{self.port}/{token}"

    # -- life cycle (host thread) -----------------------------------------------
    def start(self, schema: dict, submit: Callable[[str, list], bool],
              status: Callable[[], dict] | None = None) -> "WebSurface":
        """Serve ``schema``; page messages go to ``submit(address, args)``. PortError in one line."""
        self.schema, self.submit, self.status = schema, submit, status
        self._thread = threading.Thread(target=self._run, name="cmt-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) and self._error is None:
            self._error = f"did not start within {START_TIMEOUT_S:g} s"
        if self._error is not None:
            self.close()
            raise PortError(f"web surface on {self.host}:{self.port}: {self._error}")
        log.info("web surface on %s", self.url)
        return self

    def close(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(3.0)
        self._tap.close()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as e:
            self._error = f"{e.strerror or e} (is another cmt-bridge serving it? use --web PORT)"
            if self._ready.is_set():
                log.error("web surface stopped (%s); the host plays on", self._error)
        except Exception as e:  # one line, never a dead host
            self._error = f"{type(e).__name__}: {e}"
            log.error("web surface stopped (%s); the host plays on", self._error)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tap, _ = await self._loop.create_datagram_endpoint(lambda: _Tap(self), sock=self._tap)
        try:
            # no permessage-deflate: the messages are a few dozen bytes, and each costs CPU on a busy host
            async with serve(self._session, self.host, self.port, process_request=self._request,
                             server_header=None, max_size=MAX_MESSAGE, ping_interval=20, close_timeout=1.0,
                             compression=None, logger=logging.getLogger(f"{__name__}.ws")) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._ready.set()
                ticker = asyncio.create_task(self._tick())
                await self._stop.wait()
                ticker.cancel()
        finally:
            tap.close()

    # -- to the pages ---------------------------------------------------------------
    def publish(self, address: str, args: tuple | list) -> None:
        """Send one message to every page (any thread; never blocks)."""
        loop = self._loop
        if loop is None or not self.clients:
            return
        text = json.dumps({"address": address, "args": list(args)}, default=str, allow_nan=False)
        try:
            loop.call_soon_threadsafe(self._broadcast, text)
        except RuntimeError:   # the loop has closed
            pass

    def _broadcast(self, text: str) -> None:
        from websockets.asyncio.server import broadcast

        ready = [c for c in self.clients if c.transport.get_write_buffer_size() < MAX_BUFFER]
        broadcast(ready, text)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY_S)
            if self.clients:
                await self._push_status()

    async def _push_status(self) -> None:
        self._status_soon = False
        if self.status is None:
            return
        try:
            status = await asyncio.get_running_loop().run_in_executor(None, self.status)
        except Exception as e:  # the host is stopping, or the output process is busy
            log.debug("status for the pages: %s", e)
            return
        self._broadcast(json.dumps({"address": "/cmt/status", "args": [json.dumps(status, default=str)]}))

    def _status_later(self) -> None:
        if not self._status_soon:
            self._status_soon = True
            asyncio.get_running_loop().call_later(STATUS_AFTER_S, lambda: asyncio.ensure_future(self._push_status()))

    # -- from the pages -------------------------------------------------------------
    async def _session(self, ws) -> None:
        self.clients.add(ws)
        try:
            await self._push_status()
            async for text in ws:
                reason = self.receive(text)
                if reason is not None:
                    await ws.send(json.dumps({"address": "/cmt/error", "args": ["(web)", reason]}))
                else:
                    self._status_later()
        except Exception as e:  # a connection that breaks ends itself only
            log.debug("web session ended: %s", e)
        finally:
            self.clients.discard(ws)

    def receive(self, text: str | bytes) -> str | None:
        """Parse one page message and submit it; returns why it could not be read (or None).

        Only the envelope is read here; the address and arguments are validated by the OSC schema."""
        if isinstance(text, bytes):
            return "send JSON text, not binary frames"
        try:
            msg = json.loads(text)
        except ValueError as e:
            return f"not JSON ({' '.join(str(e).split())[:80]})"
        if not isinstance(msg, dict) or not isinstance(msg.get("address"), str):
            return 'expected {"address": "/cmt/...", "args": [...]}'
        args = msg.get("args", [])
        if not isinstance(args, list):
            args = [args]
        if not self.submit(msg["address"], args):
            return "the host is busy (control backlog full): message dropped"
        return None

    # -- HTTP ----------------------------------------------------------------------
    def _request(self, connection, request):
        """Serve the page and its files; refuse what the guard refuses; None lets a WebSocket through."""
        path = urlsplit(request.path).path
        name = "index.html" if path == "/" else path[len("/static/"):] if path.startswith("/static/") else None
        public = name is not None and path != "/"
        peer = connection.remote_address[0] if connection.remote_address else ""
        reason = self.guard.refuse(peer, request.path, request.headers.get("Host"),
                                   request.headers.get("Origin"), public=public)
        if reason is not None:
            self.refused += 1
            log.warning("web request %s refused: %s", path[:80], reason)
            return _response(403, "Forbidden", reason.encode(), "text/plain; charset=utf-8")
        if path == "/ws":
            return None
        if path == "/favicon.ico":
            return _response(204, "No Content", b"", "text/plain")
        if path == "/surface.json":
            from .pianoroll import PALETTE

            body = json.dumps({"schema": self.schema, "palette": list(PALETTE)}, default=str).encode()
            return _response(200, "OK", body, "application/json")
        file = _static(name) if name else None
        if file is None:
            return _response(404, "Not Found", b"not found", "text/plain; charset=utf-8")
        return _response(200, "OK", file.read_bytes(), TYPES[file.suffix])


def _static(name: str) -> Path | None:
    """A file of bridge/static by its plain name (no folders, no dot files), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    path = STATIC / name
    return path if path.suffix in TYPES and path.is_file() else None


def _response(status: int, reason: str, body: bytes, kind: str):
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    headers = Headers([("Content-Type", kind), ("Content-Length", str(len(body))), *HEADERS])
    return Response(status, reason, headers, body)


class _Tap(asyncio.DatagramProtocol):
    """/cmt/note and /cmt/beat from the output process -> every page."""

    def __init__(self, surface: WebSurface):
        self.surface = surface

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.surface.clients:
            return
        from pythonosc.osc_message import OscMessage

        try:
            msg = OscMessage(data)
        except Exception:  # not one of ours
            return
        if msg.address in TAP_ADDRESSES:
            self.surface._broadcast(json.dumps({"address": msg.address, "args": list(msg.params)}))

"""Who may use the web surface: the checks on every HTTP request and WebSocket handshake.

- **Sender**: loopback, or an address inside the OSC allow-list (:func:`bridge.config.peer_allowed`,
  the same list and the same code as the OSC side).
- **Token**: served beyond loopback, every request but the static files needs the random token
  of the page's URL (``?token=...``), compared in constant time. On loopback there is none, so
  Max's ``jweb`` and a bookmark open the page as it is.
- **Host** (loopback only): the ``Host`` header must name a loopback address, so a DNS-rebinding
  site (``evil.example`` resolving to 127.0.0.1) is refused.
- **Origin**: a browser sends ``Origin`` with every WebSocket handshake and cross-site fetch; it
  must be the page's own (``http://`` + the Host header), so a page from another origin can
  neither drive the host (cross-site WebSocket hijacking) nor read its schema. A request without
  ``Origin`` is not from a cross-site page (browsers always send it there): it is let through,
  like a UDP datagram from the same machine.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .config import allow_networks, is_loopback, peer_allowed

log = logging.getLogger(__name__)

TOKEN_BYTES = 18         # random bytes of a token (24 URL-safe characters)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def host_name(host_header: str) -> str:
    """``"127.0.0.1:8765" -> "127.0.0.1"``, ``"[::1]:8765" -> "::1"``, ``"localhost" -> "localhost"``."""
    h = host_header.strip()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _loopback_name(name: str) -> bool:
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def query_token(path: str) -> str:
    """The ``token`` of a request path's query string ('' when there is none)."""
    values = parse_qs(urlsplit(path).query).get("token", [""])
    return values[0]


@dataclass
class Guard:
    """The checks for one web surface. ``token`` is None on loopback (none needed)."""

    host: str
    allow: list[Any] = field(default_factory=list)
    token: str | None = None

    @classmethod
    def for_host(cls, host: str, allow: list[str]) -> "Guard":
        """The guard of a surface listening on ``host``: a fresh token beyond loopback."""
        return cls(host, allow_networks(list(allow)), None if is_loopback(host) else new_token())

    def refuse(self, peer: str, path: str, host_header: str | None, origin: str | None,
               public: bool = False) -> str | None:
        """Why this request must be refused (one line), or None. ``public``: a static file (no token)."""
        if not peer_allowed(peer, self.allow):
            return f"{peer} is not in the allow-list"
        if not host_header:
            return "no Host header"
        if self.token is None and not _loopback_name(host_name(host_header)):
            return f"Host {host_header!r} is not a loopback address (DNS rebinding?)"
        if origin is not None and origin.lower() != f"http://{host_header.lower()}":
            return f"Origin {origin!r} is not this page's (cross-site request)"
        if self.token is not None and not public:
            if not hmac.compare_digest(query_token(path).encode(), self.token.encode()):
                return "missing or wrong token (open the URL the host printed)"
        return None

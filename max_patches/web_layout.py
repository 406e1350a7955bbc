"""The web surface in Max: a ``[jweb]`` showing the page that ``cmt-bridge run --web`` serves.

The page builds its controls from the host's schema at run time, so this patch
holds no control of its own: only the browser, the page's address (message
boxes that send ``url ...`` to jweb: click one to (re)load) and notes on use.
In presentation mode only the browser shows, so the same patch can be the body
of a Max for Live device (docs/max.md, "The web surface in Max and Live").
"""
from __future__ import annotations

from control_layout import HEADER
from maxpat import MaxPatch

HOST = "127.0.0.1"
WEB_PORT = 8765          # bridge.config.DEFAULT_WEB_PORT (tests/test_web.py checks they agree)
URL = f"http://{HOST}:{WEB_PORT}/"
PAGE_W, PAGE_H = 390.0, 640.0    # the page's phone layout fits a narrow view


def max_web(schema: dict) -> MaxPatch:
    """The jweb patch; ``schema`` only names the generators the page will show."""
    m = MaxPatch("cmt-bridge web surface", rect=(60.0, 100.0, 900.0, 760.0))
    m.comment("cmt-bridge web surface", 20, 12, bold=True, size=18.0)
    m.comment(HEADER, 20, 42)
    names = ", ".join(sorted(schema.get("generators", {}))) or "none"
    m.comment("1. start the host with its page:  cmt-bridge run --web\n"
              "2. click the address below (or wait: it loads when the patch opens)\n"
              f"every generator the host loads gets its controls on the page (now: {names})",
              20, 90, 440)
    load = m.msg(f"url {URL}", 20, 150, 220)
    m.comment("another port or a token URL: edit this message", 250, 150, 200)
    start = m.obj(f"loadmess url {URL}", 20, 180, 220)
    web = m.add("jweb", 470, 20, PAGE_W, PAGE_H, url=URL, presentation=1,
                presentation_rect=[0.0, 0.0, PAGE_W, PAGE_H], rendermode=0)
    m.connect(load, 0, web)
    m.connect(start, 0, web)
    m.comment("the page talks to the host over its own WebSocket: this patch needs no udpsend / udpreceive;\n"
              "the Max control patch and this page can drive the same host at once", 20, 220, 440)
    return m

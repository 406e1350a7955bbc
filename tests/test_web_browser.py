"""The web surface in a real browser: Debian's chromium driven by Playwright, against ``cmt-bridge run --web``.

The host runs as a subprocess on the session's JACK server (the ARP test plugin),
notes are checked at ``jack_midi_dump``, parameters over OSC ``/cmt/status`` at the
reply address: the page is checked by what the host does, not by what it shows.
Skipped only when chromium (Debian package ``chromium``, installed by
scripts/setup.sh) is absent. ``CMT_BRIDGE_SCREENSHOTS=folder`` keeps the screenshots.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pythonosc.osc_packet import OscPacket

from fakeplugins import ARP, TELLER
from fakeplugins.running import BridgeRun

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("chromium is not installed (Debian package chromium; scripts/setup.sh installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")

REBOUND = "rebound.test"    # a name the browser resolves to 127.0.0.1 (what a DNS-rebinding attack does)
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def playwright():
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                   args=[f"--host-resolver-rules=MAP {REBOUND} 127.0.0.1"])
    yield b
    b.close()


class OscReplies:
    """The OSC reply address, as any OSC client has it: a UDP socket (python-osc parses what arrives)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def next(self, address: str, timeout: float = 10.0) -> list:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                m = OscPacket(self.sock.recv(65536)).messages[0].message
            except socket.timeout:
                break
            if m.address == address:
                return list(m.params)
        raise AssertionError(f"no {address} reply within {timeout} s")

    def drain(self) -> None:
        """Drop what is waiting (a burst of visuals frames fills the socket's buffer)."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)


@pytest.fixture(scope="module")
def osc():
    replies = OscReplies()
    yield replies
    replies.sock.close()


@pytest.fixture(scope="module")
def run(jack_server, osc):
    r = BridgeRun("--web", "0", "--tempo", "240", "--virtual-in", plugins=(ARP, TELLER), env=jack_server.env,
                  reply_port=osc.port)
    try:
        r.wait_ready()
        r.url = re.search(r"\| web (\S+)", r.output).group(1)
        yield r
    finally:
        r.close()


@pytest.fixture
def page(browser, run):
    pg = browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.goto(run.url)
    pg.wait_for_selector(".link.on", timeout=15000)
    pg.problems = problems
    yield pg
    pg.close()


def poll(pg, expression: str, timeout: float = 10.0) -> bool:
    """Evaluate until true (Playwright's wait_for_function polls by evaluating strings: the page's CSP
    refuses that, as it should)."""
    end = time.monotonic() + timeout
    while not pg.evaluate(expression):
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def host_status(run, osc) -> dict:
    """Ask over OSC, as any OSC client would, and read the reply."""
    run.send("/cmt/status")
    return json.loads(osc.next("/cmt/status")[0])


def wait_status(run, osc, predicate, timeout: float = 10.0) -> dict:
    end = time.monotonic() + timeout
    while True:
        s = host_status(run, osc)
        if predicate(s) or time.monotonic() > end:
            return s
        time.sleep(0.2)


def test_the_page_has_a_control_for_every_address_of_the_generator(page, run):
    schema = page.evaluate("fetch('/surface.json').then(r => r.json())")["schema"]
    mine = {a["address"] for a in schema["in"] if a.get("generator") == "arp"}
    shown = set(page.eval_on_selector_all("#gen-arp [data-address]", "els => els.map(e => e.dataset.address)"))
    assert mine and shown == mine
    assert page.inner_text("#gen-arp .param[data-address='/cmt/arp/root'] .help") == "lowest note · 24..96 MIDI pitch"
    assert page.problems == []


def test_moving_a_slider_changes_the_parameter_in_the_host(page, run, osc):
    slider = page.locator("#gen-arp .param[data-address='/cmt/arp/velocity'] input[type=range]")
    box = slider.bounding_box()
    before = host_status(run, osc)["generators"]["arp"]["params"]["velocity"]
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    value = int(slider.input_value())
    assert value != before and 20 < value < 50
    status = wait_status(run, osc, lambda s: s["generators"]["arp"]["params"]["velocity"] == value)
    assert status["generators"]["arp"]["params"]["velocity"] == value
    slider.focus()
    page.keyboard.press("End")                      # the keyboard moves it too: to the maximum
    status = wait_status(run, osc, lambda s: s["generators"]["arp"]["params"]["velocity"] == 127)
    assert status["generators"]["arp"]["params"]["velocity"] == 127


def test_learn_cc_arms_the_host_and_the_page_says_so(page, run, osc):
    page.click("#arp-gate-learn")
    assert wait_status(run, osc, lambda s: s["learning"] == "arp.gate")["learning"] == "arp.gate"
    assert poll(page, "document.getElementById('learning').textContent.includes('arp.gate')")


def test_play_and_stop_buttons_drive_notes_at_jack_midi_dump(page, run, osc, midi_receiver):
    dump = midi_receiver(run.port_name)
    page.click("#arp-play")
    msgs = dump.wait_for(lambda m: sum(x.is_note_on for x in m) >= 6, timeout=20)
    assert sum(x.is_note_on for x in msgs) >= 6
    assert {x.data[1] for x in msgs if x.is_note_on} & {60, 64, 67, 72, 84, 85}
    assert poll(page, "window.cmtRoll.received > 0")                             # the roll shows them
    page.wait_for_selector("#gen-arp .state.playing", timeout=5000)
    page.click("#arp-stop")
    assert wait_status(run, osc, lambda s: s["playing"] == [])["playing"] == []
    time.sleep(0.5)
    n = len(dump.messages())
    time.sleep(1.0)
    assert not any(m.is_note_on for m in dump.messages()[n:])


def test_an_invalid_value_is_refused_with_a_visible_error(page, run, osc):
    root = page.locator("#arp-root")
    root.fill("500")
    root.press("Enter")
    error = page.locator("#errors .error").first
    error.wait_for(state="visible", timeout=10000)
    assert error.inner_text() == "/cmt/arp/root root must be in range 24..96, got 500"
    assert host_status(run, osc)["generators"]["arp"]["params"]["root"] == 60


def test_a_generators_own_messages_show_on_its_card(page, run, osc):
    page.click("#teller-play")
    caption = page.locator("#gen-teller .out-caption .caption")
    caption.wait_for(state="visible", timeout=15000)
    assert caption.inner_text() == "a fast piece for strings and piano"
    assert page.locator("#gen-teller .out-tags .chip").all_inner_texts() == ["fast", "strings", "piano"]
    assert page.locator("#gen-teller .out-embedding canvas.bars").count() == 1
    bar = page.locator("#progress [data-task='teller/think'] progress")
    bar.wait_for(timeout=10000)
    assert bar.evaluate("b => b.value") == 0.5
    page.fill("#teller-word", "slow")
    page.press("#teller-word", "Enter")
    assert poll(page, "document.querySelector('#gen-teller .caption').textContent.includes('slow')")
    page.click("#teller-stop")
    assert page.problems == []


def test_screenshots_fit_a_desktop_and_a_phone(browser, run):
    keep = os.environ.get("CMT_BRIDGE_SCREENSHOTS")
    out = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="cmtb-shots-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        for name, (w, h) in SIZES.items():
            pg = browser.new_page(viewport={"width": w, "height": h})
            pg.goto(run.url)
            pg.wait_for_selector(".link.on", timeout=15000)
            pg.wait_for_timeout(300)
            path = out / f"web-{name}.png"
            pg.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 5000
            wide = pg.evaluate("""() => [document.documentElement.scrollWidth,
                ...[...document.querySelectorAll('body *')].filter(e => e.getClientRects().length)
                    .map(e => e.getBoundingClientRect().right)]""")
            assert wide[0] <= w, f"{name}: the page scrolls sideways ({wide[0]} > {w} px)"
            assert max(wide[1:]) <= w + 0.5, f"{name}: an element ends at {max(wide[1:])} px (> {w})"
            pg.close()
    finally:
        if not keep:
            shutil.rmtree(out, ignore_errors=True)


class _Evil(BaseHTTPRequestHandler):
    """A page from another origin that tries to drive the host on the web surface's port."""

    target = 0

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = f"""<!doctype html><script>
        window.result = {{opened: false, closed: false, read: null}};
        const s = new WebSocket("ws://127.0.0.1:{self.target}/ws");
        s.onopen = () => {{ window.result.opened = true; s.send(JSON.stringify({{address: "/cmt/tempo", args: [33]}})); }};
        s.onclose = () => {{ window.result.closed = true; }};
        fetch("http://127.0.0.1:{self.target}/surface.json").then(r => r.text())
            .then(t => {{ window.result.read = t.length; }}, () => {{ window.result.read = "blocked"; }});
        </script>""".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_page_from_another_origin_cannot_drive_the_host(browser, run, osc):
    port = int(re.search(r":(\d+)/", run.url).group(1))
    _Evil.target = port
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        pg = browser.new_page()
        pg.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        assert poll(pg, "window.result.closed && window.result.read !== null")
        result = pg.evaluate("window.result")
        assert result == {"opened": False, "closed": True, "read": "blocked"}
        # the same host reached by another name (DNS rebinding): refused before any page is served
        res = pg.goto(f"http://{REBOUND}:{port}/")
        assert res.status == 403 and "DNS rebinding" in pg.content()
        pg.close()
    finally:
        server.shutdown()
    assert host_status(run, osc)["tempo"] == 240.0
    assert "web request /ws refused: Origin 'http://127.0.0.1:" in run.output


# -- the visuals card: the plugin's own shader in WebGL ------------------------------------------------

def picture(page, size: int | None = None):
    """The visuals card's drawing buffer as uint8 [h, w, 3], top row first (``size``: fix it square)."""
    import numpy as np

    if size:
        page.evaluate(f"(() => {{ const p = window.cmtPage.visuals.visuals; p.size = [{size}, {size}]; "
                      f"p.dirty = true; }})()")
    d = page.evaluate("window.cmtPage.visuals.visuals.pixels()")
    return np.array(d["rgb"], np.uint8).reshape(d["height"], d["width"], 3)


def give(page, vector) -> None:
    """One frame's uniforms as the host sends them (/params, /pulse, /palette), through the page's receiver."""
    from plugins.visuals import shader as S

    v = [float(x) for x in vector]
    for address, args in (("params", [v[i] for i in S.SCENE]), ("pulse", [v[S.PULSE]]),
                          ("palette", v[S.PALETTE])):
        page.evaluate(f"window.cmtPage.receive({json.dumps({'address': f'/cmt/visuals/{address}', 'args': args})})")


def test_the_visuals_card_draws_the_plugins_shader_and_follows_its_parameters(page):
    import numpy as np

    from plugins.visuals import shader as S

    assert poll(page, "!!(window.cmtPage.visuals.visuals)"), "no picture on the visuals card"
    assert page.locator("#gen-visuals canvas.picture").count() == 1
    rng = np.random.default_rng(5)
    one = np.concatenate([rng.uniform(-1, 1, 8), [0.7, 0.2, 1.8, 0.3, 3.0],
                          [0.5, 0.45, 0.4, 0.45, 0.4, 0.35, 1.0, 1.0, 1.0, 0.0, 0.33, 0.67]])
    two = one.copy()
    two[S.SHAPE] = -two[S.SHAPE]
    two[S.PALETTE.start + 9:S.PALETTE.stop] += 0.3               # another picture, other colours
    give(page, one)
    first = picture(page, 64)
    assert first.std() > 10 and len(np.unique(first.reshape(-1, 3), axis=0)) > 500     # not blank, not flat
    give(page, two)
    second = picture(page)
    assert np.abs(second.astype(int) - first).mean() > 10                  # the parameters changed it
    give(page, one)
    assert np.abs(picture(page).astype(int) - first).max() <= 1            # and only the parameters
    # the same picture as the plugin's own renderer (moderngl) draws from the same vector
    from bridge.api import ModelError
    from plugins.visuals.render import ShaderRenderer

    try:
        with ShaderRenderer(64) as r:
            reference = r.render(one)
    except ModelError as e:
        pytest.skip(f"no headless OpenGL for the reference picture: {e}")
    diff = np.abs(reference.astype(int) - first)
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 4, (diff.mean(), np.percentile(diff, 99))
    assert page.problems == []


def test_the_visuals_card_moves_with_the_frames_the_host_sends(page, run, osc, tmp_path):
    import numpy as np
    import soundfile

    from visuals_fixture import clicks

    assert poll(page, "!!(window.cmtPage.visuals.visuals)"), "no picture on the visuals card"
    x, _ = clicks(20.0, 22050, every_s=0.5)
    soundfile.write(str(tmp_path / "clicks.wav"), x, 22050)
    run.send("/cmt/visuals/file", str(tmp_path / "clicks.wav"))
    try:
        assert poll(page, "window.cmtPage.visuals.visuals.received >= 30", timeout=30), "no frames reached the page"
        frames = page.evaluate("window.cmtPage.visuals.visuals.frames")
        first = picture(page)
        assert first.shape[1] >= 200 and first.std() > 10                    # the card's size, not blank
        assert poll(page, f"window.cmtPage.visuals.visuals.frames >= {frames + 10}", timeout=20)
        later = picture(page)
        assert np.abs(later.astype(int) - first).mean() > 1                  # the motion goes on
    finally:
        run.send("/cmt/visuals/unlisten")
        time.sleep(0.5)
        osc.drain()                                    # the frames also went to the OSC reply address
    assert page.locator("#gen-visuals .out-params").count() == 0            # drawn, not listed as bars
    assert page.problems == []


def test_without_webgl_the_visuals_card_says_so_and_the_page_works(playwright, run, osc):
    if True:
        b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--disable-webgl", "--disable-3d-apis"])
        try:
            pg = b.new_page(viewport={"width": 1280, "height": 800})
            problems: list[str] = []
            pg.on("pageerror", lambda e: problems.append(str(e)))
            pg.goto(run.url)
            pg.wait_for_selector(".link.on", timeout=15000)
            note = pg.locator("#gen-visuals .note")
            note.wait_for(state="visible", timeout=10000)
            assert "no WebGL" in note.inner_text()
            assert pg.locator("#gen-visuals canvas.picture").count() == 0
            pg.fill("#arp-root", "62")                                         # the rest of the page works
            pg.press("#arp-root", "Enter")
            assert wait_status(run, osc, lambda s: s["generators"]["arp"]["params"]["root"] == 62)[
                "generators"]["arp"]["params"]["root"] == 62
            pg.fill("#arp-root", "60")
            pg.press("#arp-root", "Enter")
            assert problems == []
        finally:
            b.close()

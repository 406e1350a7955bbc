"""The web surface's server (no browser): one validation path with OSC, replies to pages, the guard."""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bridge.cli import add_run_arguments
from bridge.config import DEFAULT_WEB_PORT, build_settings, flag_values
from bridge.errors import ConfigError, PortError
from bridge.osc import OscControl, OscSchema, build_message
from bridge.web import WebSurface
from bridge.webguard import Guard, host_name
from fakeplugins.arp import Arp


class Host:
    """The control side of a host: an OscControl whose handler records what passed the schema."""

    def __init__(self, web_host: str = "127.0.0.1", allow=()):
        self.calls: list[tuple[str, list]] = []
        self.replies = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # the OSC reply address
        self.replies.bind(("127.0.0.1", 0))
        self.replies.settimeout(5.0)
        schema = OscSchema({"arp": Arp})
        self.control = OscControl(schema, lambda entry, values: self.calls.append((entry.path, values)),
                                  port=0, reply=self.replies.getsockname()).start()
        self.web = WebSurface(web_host, 0, allow).start(json.loads(json.dumps(schema.describe(), default=str)),
                                                        self.control.submit, lambda: {"tempo": 120.0})
        self.control.listeners.append(self.web.publish)

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.web.port}{path}"

    def origin(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"

    def osc_reply(self) -> tuple[str, list]:
        from pythonosc.osc_message import OscMessage

        msg = OscMessage(self.replies.recvfrom(65536)[0])
        return msg.address, list(msg.params)

    def wait_calls(self, n: int, timeout: float = 5.0) -> list:
        end = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < end:
            time.sleep(0.01)
        return self.calls

    def close(self) -> None:
        self.web.close()
        self.control.close()
        self.replies.close()


@pytest.fixture
def host():
    h = Host()
    yield h
    h.close()


def next_message(ws, address: str, timeout: float = 5.0) -> list:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        msg = json.loads(ws.recv(timeout=max(0.01, end - time.monotonic())))
        if msg["address"] == address:
            return msg["args"]
    raise AssertionError(f"no {address} within {timeout} s")


def test_a_page_message_takes_the_same_path_as_a_datagram(host):
    with connect(host.url(), origin=host.origin()) as ws:
        ws.send(json.dumps({"address": "/cmt/arp/root", "args": [48]}))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(build_message("/cmt/arp/root", [50]), ("127.0.0.1", host.control.port))
        ws.send(json.dumps({"address": "/cmt/arp/burst", "args": []}))
        calls = host.wait_calls(3)
    assert sorted(calls) == [("/cmt/arp/burst", [4]), ("/cmt/arp/root", [48]), ("/cmt/arp/root", [50])]
    assert host.control.stats()["received"] == 3 and host.control.stats()["handled"] == 3


def test_a_refused_value_is_answered_on_the_page_and_on_osc_with_the_same_reason(host):
    with connect(host.url(), origin=host.origin()) as ws:
        ws.send(json.dumps({"address": "/cmt/arp/root", "args": [500]}))
        page = next_message(ws, "/cmt/error")
        osc = host.osc_reply()
        ws.send(json.dumps({"address": "/cmt/tempo", "args": ["fast"]}))
        tempo = next_message(ws, "/cmt/error")
    assert page == ["/cmt/arp/root", "root must be in range 24..96, got 500"]
    assert osc == ("/cmt/error", page)
    assert tempo == ["/cmt/tempo", "bpm must be a float, got string 'fast'"]
    assert host.calls == [] and host.control.stats()["rejected"] == 2


@pytest.mark.parametrize("frame, reason", [
    ("not json", "not JSON"),
    ("[1, 2]", 'expected {"address"'),
    ('{"address": 5}', 'expected {"address"'),
    (b"\x00\x01", "binary"),
])
def test_an_unreadable_message_is_answered_and_the_page_stays_connected(host, frame, reason):
    with connect(host.url(), origin=host.origin()) as ws:
        ws.send(frame)
        args = next_message(ws, "/cmt/error")
        assert args[0] == "(web)" and reason in args[1]
        ws.send(json.dumps({"address": "/cmt/arp/velocity", "args": [99]}))
        assert host.wait_calls(1) == [("/cmt/arp/velocity", [99])]


def test_replies_notes_and_status_reach_every_page(host):
    with connect(host.url(), origin=host.origin()) as a, connect(host.url(), origin=host.origin()) as b:
        assert json.loads(next_message(a, "/cmt/status")[0]) == {"tempo": 120.0}   # pushed on connect
        time.sleep(0.2)
        host.control.info("arp", "hello")
        assert next_message(a, "/cmt/info") == ["arp", "hello"] == next_message(b, "/cmt/info")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:   # what the output process copies
            udp.sendto(build_message("/cmt/note", ["arp", 60, 90, 250, 1]), host.web.tap_address)
        assert next_message(a, "/cmt/note") == ["arp", 60, 90, 250, 1]


def http_get(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers)
    res = conn.getresponse()
    out = res.status, res.read()
    conn.close()
    return out


def test_another_origin_or_a_rebound_host_name_is_refused(host):
    with pytest.raises(InvalidStatus) as err:
        connect(host.url(), origin="http://evil.example")
    assert err.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(host.url(), origin=f"http://127.0.0.1:{host.web.port + 1}")   # same host, another port
    port = host.web.port
    assert http_get(port, "/", {"Host": f"evil.example:{port}"})[0] == 403     # DNS rebinding
    assert http_get(port, "/surface.json", {"Host": f"127.0.0.1:{port}", "Origin": "http://evil.example"})[0] == 403
    status, body = http_get(port, "/surface.json", {"Host": f"localhost:{port}"})
    assert status == 200 and "/cmt/arp/root" in {a["address"] for a in json.loads(body)["schema"]["in"]}
    assert http_get(port, "/static/../web.py", {"Host": f"127.0.0.1:{port}"})[0] == 404
    assert host.calls == [] and host.web.refused == 4


def test_beyond_loopback_the_page_and_socket_need_the_token():
    h = Host("0.0.0.0", allow=["192.168.77.0/24"])   # all interfaces; this test talks to loopback only
    try:
        port, token = h.web.port, h.web.guard.token
        assert token and h.web.url.endswith(f"/?token={token}")
        headers = {"Host": f"127.0.0.1:{port}"}
        assert http_get(port, "/", headers)[0] == 403
        assert http_get(port, "/?token=wrong", headers)[0] == 403
        assert http_get(port, f"/?token={token}", headers)[0] == 200
        assert http_get(port, "/static/surface.js", headers)[0] == 200      # the page's own files are public
        with pytest.raises(InvalidStatus):
            connect(h.url(), origin=h.origin())
        with connect(h.url(f"/ws?token={token}"), origin=h.origin()) as ws:
            ws.send(json.dumps({"address": "/cmt/arp/gate", "args": [0.25]}))
            assert h.wait_calls(1) == [("/cmt/arp/gate", [0.25])]
    finally:
        h.close()


def test_the_guard_uses_the_osc_allow_list():
    guard = Guard.for_host("0.0.0.0", ["192.168.1.0/24"])
    ok = dict(path=f"/?token={guard.token}", host_header="10.0.0.5:8765", origin=None)
    assert guard.refuse("192.168.1.20", **ok) is None
    assert "allow-list" in guard.refuse("192.168.2.20", **ok)
    assert guard.refuse("::ffff:192.168.1.20", **ok) is None
    assert guard.refuse("127.0.0.1", **ok) is None
    assert host_name("[::1]:8765") == "::1" and host_name("localhost") == "localhost"
    assert Guard.for_host("127.0.0.1", []).token is None


def test_a_busy_port_is_one_line_and_nothing_is_left_running(host):
    other = WebSurface("127.0.0.1", host.web.port)
    with pytest.raises(PortError) as err:
        other.start({}, lambda path, args: True)
    assert "\n" not in str(err.value) and str(host.web.port) in str(err.value)


def parse_run(*flags: str):
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return build_settings(None, **flag_values(parser.parse_args(list(flags))))


def test_web_flags():
    assert parse_run().web is None
    assert (parse_run("--web").web, parse_run("--web").web_host) == (DEFAULT_WEB_PORT, "127.0.0.1")   # loopback
    assert parse_run("--web", "0").web == 0
    with pytest.raises(ConfigError, match="allow-list"):
        parse_run("--web", "--web-host", "0.0.0.0")
    s = parse_run("--web", "9999", "--web-host", "0.0.0.0", "--osc-allow", "192.168.1.0/24")
    assert (s.web, s.web_host) == (9999, "0.0.0.0")
    with pytest.raises(ConfigError, match="port number"):
        parse_run("--web", "70000")


def test_the_max_patch_shows_the_default_page_in_jweb():
    import sys
    from pathlib import Path

    patches = Path(__file__).resolve().parents[1] / "max_patches"
    sys.path.insert(0, str(patches))
    import patchcheck
    import web_layout

    path = patches / "cmt-bridge-web.maxpat"
    patcher = json.loads(path.read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    (web,) = [b for b in boxes.values() if b["maxclass"] == "jweb"]
    url = f"http://127.0.0.1:{DEFAULT_WEB_PORT}/"
    assert web_layout.URL == url and web["url"] == url and web["presentation"] == 1
    feeds = {boxes[line["patchline"]["source"][0]]["text"] for line in patcher["lines"]
             if line["patchline"]["destination"] == [web["id"], 0]}
    assert feeds == {f"url {url}", f"loadmess url {url}"}
    assert patchcheck.check_file(path, {"in": [], "out": [], "generators": {}}) == []


def test_a_web_surface_that_cannot_start_is_one_warning_and_the_host_plays_on():
    from fakeplugins import ARP
    from fakeplugins.running import BridgeRun

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = BridgeRun("--web", str(port), "--api", "none", "--play", "arp", plugins=(ARP,))
        try:
            run.wait_ready()
            warnings = [line for line in run.lines if "web surface" in line]
            assert len(warnings) == 1 and "warning: no web surface" in warnings[0], run.output
            assert f"{port}" in warnings[0] and "| web " not in run.output
            time.sleep(2.5)                              # it plays: the arp's notes are recorded
            assert run.stop() == 0, run.output
            import mido

            notes = [m for t in mido.MidiFile(run.record).tracks for m in t if m.type == "note_on" and m.velocity]
            assert len(notes) >= 4
        finally:
            run.close()


def test_the_pages_visuals_shader_is_the_plugins_own():
    """bridge/static/visuals.frag is generated from plugins/visuals/shader.py (python max_patches/make_patches.py)."""
    from bridge.web import STATIC
    from plugins.visuals.shader import BODY, webgl_shader

    text = (STATIC / "visuals.frag").read_text()
    assert text == webgl_shader(), "bridge/static/visuals.frag is stale: run python max_patches/make_patches.py"
    assert BODY in text and "gl_FragColor" in text

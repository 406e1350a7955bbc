"""OSC schema and validation units (no sockets), plus the UDP endpoint with python-osc on loopback."""
from __future__ import annotations

import json
import socket

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from bridge.errors import InputError
from bridge.osc import OscControl, OscSchema
from bridge.plugins import collect_generators, make_plugin_manager
from fakeplugins import ARP, RAISER


@pytest.fixture(scope="module")
def schema():
    gens, _ = collect_generators(make_plugin_manager(extra=[ARP, RAISER], entry_points=False))
    return OscSchema(gens)


def test_schema_lists_host_param_and_action_addresses(schema):
    d = schema.describe()
    json.dumps(d)
    ins = {a["address"]: a for a in d["in"]}
    for a in ("/cmt/play", "/cmt/stop", "/cmt/panic", "/cmt/tempo", "/cmt/status", "/cmt/learn", "/cmt/reload",
              "/cmt/arp/root", "/cmt/arp/burst", "/cmt/boom/ok_phrases"):
        assert a in ins
    root = ins["/cmt/arp/root"]["args"][0]
    assert (root["osc_type"], root["min"], root["max"], root["default"]) == ("i", 24, 96, 60)
    assert ins["/cmt/tempo"]["args"][0]["min"] == 20.0 and not ins["/cmt/tempo"]["args"][0]["optional"]
    assert ins["/cmt/play"]["args"][0]["choices"] == ["arp", "boom"]
    assert ins["/cmt/arp/burst"]["args"][0]["optional"]
    outs = {a["address"] for a in d["out"]}
    assert {"/cmt/error", "/cmt/progress", "/cmt/status", "/cmt/note", "/cmt/beat"} <= outs


@pytest.mark.parametrize("path,args,reason", [
    ("/cmt/nope", [], "unknown address"),
    ("/cmt/arp/bogus", [1], "arp has no parameter or action 'bogus'"),
    ("/cmt/zzz/root", [1], "no generator 'zzz'"),
    ("/cmt/tempo", [], "takes 1 argument(s) (bpm), got 0"),
    ("/cmt/tempo", [120.0, 1], "got 2"),
    ("/cmt/tempo", ["fast"], "bpm must be a float, got string 'fast'"),
    ("/cmt/tempo", [500.0], "bpm must be in range 20.0..300.0"),
    ("/cmt/arp/root", [60.5], "root must be an int, got float 60.5"),
    ("/cmt/arp/root", ["60"], "root must be an int, got string"),
    ("/cmt/arp/root", [True], "root must be an int, got bool"),
    ("/cmt/arp/root", [3], "root must be in range 24..96, got 3"),
    ("/cmt/play", ["ghost"], "generator must be one of arp, boom"),
    ("/cmt/play", [1], "generator must be a string"),
    ("/cmt/arp/burst", [1, 2], "takes 0..1 argument(s)"),
    ("/cmt/arp/root", [b"\x00"], "got blob"),
])
def test_rejections_say_why(schema, path, args, reason):
    with pytest.raises(InputError) as e:
        schema.check(path, args)
    assert reason in str(e.value)
    assert "\n" not in str(e.value)


def test_accepted_values_are_coerced(schema):
    assert schema.check("/cmt/arp/root", [48.0])[1] == [48]        # Pd/Max send floats
    assert schema.check("/cmt/tempo", [90])[1] == [90.0]
    assert schema.check("/cmt/stop", [])[1] == [""]
    entry, values = schema.check("/cmt/arp/burst", [])
    assert entry.kind == "action" and entry.target == "burst" and values == [4]
    assert schema.check("/cmt/play", ["arp"])[1] == ["arp", ""]


def _msg(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


@pytest.fixture
def endpoint(schema):
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    reply.settimeout(3.0)
    seen = []
    ctl = OscControl(schema, lambda entry, values: seen.append((entry.path, values)), port=0,
                     reply=reply.getsockname()).start()
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def recv():
        packet = OscPacket(reply.recvfrom(65536)[0])
        m = packet.messages[0].message
        return m.address, list(m.params)

    yield ctl, lambda data: send.sendto(data, ("127.0.0.1", ctl.port)), recv, seen
    ctl.close()
    reply.close()
    send.close()


def test_endpoint_dispatches_valid_and_answers_invalid(endpoint):
    ctl, send, recv, seen = endpoint
    send(_msg("/cmt/tempo", 140.0))
    send(_msg("/cmt/tempo", "x"))
    assert recv() == ("/cmt/error", ["/cmt/tempo", "bpm must be a float, got string 'x'"])
    send(b"/cmt/tempo\0\0,[f\0" + bytes(4))          # array never closed
    address, (addr, reason) = recv()
    assert address == "/cmt/error" and addr == "/cmt/tempo" and "malformed" in reason
    send(b"garbage that is not OSC")
    address, (addr, reason) = recv()
    assert address == "/cmt/error" and addr == "?" and "malformed" in reason
    assert seen == [("/cmt/tempo", [140.0])]


def test_handler_errors_are_answered_and_do_not_kill_the_endpoint(schema):
    from bridge.errors import ConfigError

    def handler(entry, values):
        if values[0] == 100.0:
            raise ConfigError("no way")
        raise ZeroDivisionError("bug")

    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    reply.settimeout(3.0)
    ctl = OscControl(schema, handler, port=0, reply=reply.getsockname()).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(_msg("/cmt/tempo", 100.0), ("127.0.0.1", ctl.port))
            assert OscPacket(reply.recv(65536)).messages[0].message.params == ["/cmt/tempo", "no way"]
            s.sendto(_msg("/cmt/tempo", 101.0), ("127.0.0.1", ctl.port))
            params = OscPacket(reply.recv(65536)).messages[0].message.params
            assert "internal error: ZeroDivisionError" in params[1]
    finally:
        ctl.close()
        reply.close()


def test_allow_list(schema):
    ctl = OscControl(schema, lambda e, v: None, allow=["192.168.1.0/24"])
    assert ctl._allowed("127.0.0.1") and ctl._allowed("192.168.1.77")
    assert not ctl._allowed("10.0.0.1")


def test_port_in_use_is_a_port_error(schema):
    from bridge.errors import PortError

    a = OscControl(schema, lambda e, v: None, port=0).start()
    try:
        with pytest.raises(PortError, match="cannot listen for OSC"):
            OscControl(schema, lambda e, v: None, port=a.port).start()
    finally:
        a.close()


def test_the_docs_osc_table_is_what_osc_schema_prints():
    from pathlib import Path

    from bridge.cli import schema_markdown
    from bridge.osc import OscSchema
    from bridge.plugins import collect_generators, make_plugin_manager

    gens, _ = collect_generators(make_plugin_manager())
    table = schema_markdown(OscSchema(gens).describe())
    docs = (Path(__file__).resolve().parents[1] / "docs" / "host.md").read_text()
    assert table.strip() in docs, "regenerate the table in docs/host.md: cmt-bridge osc-schema --markdown"

"""Property-based fuzzing of the OSC path (hypothesis): random datagrams and random typed arguments.

The control is wired to the app's real handler (``Bridge.handle``) over a real
Host playing the fake ``arp`` generator (recording transport). Every message
either acts (reaches the host with values inside the schema) or is rejected
with a one-line reason on ``/cmt/error``; ``handle_datagram`` never raises;
``/cmt/status`` still answers afterwards.
"""
from __future__ import annotations

import json
import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge.app import Bridge
from bridge.cc import CCMap
from bridge.config import Settings
from bridge.osc import OscControl, OscSchema

from test_host import make_host
from fakeplugins import ARP


class Harness:
    def __init__(self) -> None:
        host, clock, transport = make_host(ARP)
        self.host, self.transport = host, transport
        self.bridge = Bridge(Settings(record=None))
        self.bridge.host, self.bridge.transport = host, transport
        loaded = {n: host.classes[n] for n in host.names}
        self.bridge.ccmap = CCMap(loaded, host.set_param)
        self.schema = OscSchema(loaded)
        self.acted: list[tuple[str, list]] = []
        self.sent: list[tuple[str, tuple]] = []

        def handle(entry, values):
            self.bridge.handle(entry, values)
            self.acted.append((entry.path, values))

        self.control = OscControl(self.schema, handle)     # not started: no socket, replies captured below
        self.control.send = lambda address, *args: self.sent.append((address, args))
        self.bridge.control = self.control

    def close(self) -> None:
        self.host.stop()
        self.host.close()


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


def osc_values():
    return st.one_of(
        st.integers(-2**31, 2**31 - 1),
        st.floats(width=32, allow_nan=True, allow_infinity=True),
        st.floats(allow_nan=True, allow_infinity=True).map(lambda x: ("d", x)),
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=300),
        st.binary(min_size=1, max_size=64).map(lambda b: ("b", b)),
        st.sampled_from([("T", True), ("F", False), ("N", None)]),
    )


def message(address: str, values: list) -> bytes:
    b = OscMessageBuilder(address)
    for v in values:
        if isinstance(v, tuple):
            b.add_arg(v[1], v[0])
        elif isinstance(v, float):
            b.add_arg(v, "f")
        else:
            b.add_arg(v)
    return b.build().dgram


def addresses(schema: OscSchema):
    known = sorted(schema.inbound)
    odd = st.text(alphabet=string.printable.replace("\0", "").replace(" ", ""), min_size=1, max_size=40)
    return st.one_of(st.sampled_from(known), odd.map(lambda s: "/" + s.lstrip("/")),
                     st.sampled_from(known).map(lambda a: a + "x"))


def check_one(h: Harness, data: bytes, address: str | None = None) -> None:
    acted, sent = len(h.acted), len(h.sent)
    rejected = h.control.counts["rejected"]
    h.control.handle_datagram(data)            # must not raise
    acts = h.acted[acted:]
    errors = [args for a, args in h.sent[sent:] if a == "/cmt/error"]
    for err in errors:
        assert len(err) == 2 and err[1] and "\n" not in err[1] and "Traceback" not in err[1]
    if address is not None:                    # one well-formed message: it acted, or it was rejected
        assert len(acts) + (h.control.counts["rejected"] - rejected) == 1, (address, acts, errors)
        for path, values in acts:
            entry = h.schema.inbound[path]
            for p, v in zip(entry.args, values):
                assert p.coerce(v) == v                      # inside the schema's type, range, choices
                if isinstance(v, float):
                    assert math.isfinite(v)


def assert_status_answers(h: Harness) -> None:
    sent = len(h.sent)
    h.control.handle_datagram(message("/cmt/status", []))
    status = [args for a, args in h.sent[sent:] if a == "/cmt/status"]
    assert status and json.loads(status[0][0])["generators"]["arp"]


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes_never_raise(harness, data):
    check_one(harness, data)


@FUZZ
@given(data=st.binary(max_size=256))
def test_random_bytes_after_an_osc_address_never_raise(harness, data):
    check_one(harness, b"/cmt/arp/root\0\0\0" + data)
    check_one(harness, b"#bundle\0" + data)


@FUZZ
@given(st.data())
def test_random_typed_arguments_act_or_are_rejected_with_a_reason(harness, data):
    address = data.draw(addresses(harness.schema))
    values = data.draw(st.lists(osc_values(), max_size=4))
    if address in ("/cmt/stop", "/cmt/panic") or address.startswith("/cmt/reload"):
        values = values[:0] if data.draw(st.booleans()) else values
    check_one(harness, message(address, values), address)


def test_status_answers_and_the_host_still_plays_after_the_fuzz(harness):
    assert_status_answers(harness)
    harness.host.play("arp")
    harness.host.set_tempo(300.0)
    n = len(harness.transport.of("arp"))
    import time

    end = time.monotonic() + 5
    while len(harness.transport.of("arp")) <= n and time.monotonic() < end:
        time.sleep(0.05)
    assert len(harness.transport.of("arp")) > n

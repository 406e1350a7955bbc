"""Config file + flags, and CC mapping units."""
from __future__ import annotations

import pytest

from bridge.cc import CCBinding, CCMap, binding_from_config, parse_cc_flag, scale
from bridge.config import build_settings, parse_set, read_file
from bridge.errors import ConfigError
from bridge.generator import Param
from bridge.plugins import collect_generators, make_plugin_manager
from fakeplugins import ARP

TOML = """
tempo = 100.0
play = "arp"
record = false
[midi]
out = ""
clock_out = true
[osc]
port = 9100
allow = []
[[cc]]
cc = 21
channel = 2
generator = "arp"
param = "root"
[generators.arp]
root = 48
"""


def test_file_then_flags(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(TOML)
    s = build_settings(p)
    assert (s.tempo, s.play, s.record, s.midi_out, s.clock_out, s.osc_port) == (100.0, ["arp"], None, None, True, 9100)
    assert s.cc == [{"cc": 21, "channel": 2, "generator": "arp", "param": "root"}]
    s = build_settings(p, tempo=140.0, osc_port=9200, clock_out=None, generators={"arp": {"velocity": "70"}},
                       cc=[{"cc": 1, "generator": "arp", "param": "gate"}])
    assert (s.tempo, s.osc_port, s.clock_out) == (140.0, 9200, True)
    assert s.generators == {"arp": {"root": 48, "velocity": "70"}}
    assert len(s.cc) == 2


@pytest.mark.parametrize("text,message", [
    ("tempo = 'fast'", "expected float"),
    ("tempo = 900", "tempo must be in range 20..300"),
    ("bogus = 1", "unknown option 'bogus'"),
    ("[midi]\nouts = 'x'", "unknown option [midi] outs"),
    ("[osc]\nport = 'x'", "expected int"),
    ("[osc]\nhost = '0.0.0.0'", "needs an allow-list"),
    ("[osc]\nallow = ['not an ip']", "is not an address"),
    ("tempo = ", "c.toml"),
])
def test_bad_files_are_one_line_config_errors(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        build_settings(p)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_file(tmp_path / "none.toml")


def test_beyond_loopback_with_allow_list_is_fine():
    s = build_settings(None, osc_host="0.0.0.0", osc_allow=["192.168.0.0/16"])
    assert s.osc_host == "0.0.0.0"


def test_parse_set_and_cc_flags():
    assert parse_set(["arp.root=50", "arp.gate=0.2"]) == {"arp": {"root": "50", "gate": "0.2"}}
    with pytest.raises(ConfigError, match="GENERATOR.PARAM=VALUE"):
        parse_set(["root=50"])
    assert parse_cc_flag("21=arp.root") == {"cc": 21, "generator": "arp", "param": "root"}
    assert parse_cc_flag("3:21=arp.root")["channel"] == 3
    with pytest.raises(ConfigError):
        parse_cc_flag("x=arp")


def test_scale_maps_0_127_onto_the_range():
    p = Param("t", float, 0.5, 0.0, 2.0)
    assert scale(p, 0) == 0.0 and scale(p, 127) == 2.0 and abs(scale(p, 64) - 1.0079) < 1e-3
    i = Param("n", int, 4, 1, 16)
    assert [scale(i, v) for v in (0, 127, 63)] == [1, 16, 8]
    assert scale(Param("b", bool, False), 63) is False and scale(Param("b", bool, False), 64) is True
    c = Param("m", str, "a", choices=("a", "b", "c"))
    assert [scale(c, v) for v in (0, 60, 127)] == ["a", "b", "c"]


@pytest.fixture
def gens():
    return collect_generators(make_plugin_manager(extra=[ARP], entry_points=False))[0]


def test_bindings_from_config_are_checked(gens):
    b = binding_from_config({"cc": 21, "channel": 2, "generator": "arp", "param": "root"}, gens)
    assert b == CCBinding(21, 1, "arp", "root")
    for entry, msg in [({"cc": 200, "generator": "arp", "param": "root"}, "0..127"),
                       ({"cc": 1, "channel": 0, "generator": "arp", "param": "root"}, "1..16"),
                       ({"cc": 1, "generator": "zzz", "param": "root"}, "no generator 'zzz'"),
                       ({"cc": 1, "generator": "arp", "param": "zzz"}, "no parameter 'zzz'"),
                       ({"cc": 1, "generator": "arp"}, "missing param"),
                       ({"cc": 1, "generator": "arp", "param": "root", "x": 1}, "unknown key")]:
        with pytest.raises(ConfigError, match=msg):
            binding_from_config(entry, gens)


def test_learn_binds_the_next_cc_and_scales(gens):
    applied, learned = [], []
    m = CCMap(gens, lambda g, p, v: applied.append((g, p, v)), on_learned=learned.append)
    assert m.handle(0, 7, 100) == []                 # nothing bound yet
    m.learn("arp", "root")
    assert m.handle(3, 74, 127) == [("arp", "root", 96)]
    assert learned == [CCBinding(74, 3, "arp", "root")]
    assert m.handle(3, 74, 0) == [("arp", "root", 24)]
    assert m.handle(4, 74, 0) == []                  # other channel
    m.learn("arp", "gate")
    m.handle(3, 74, 127)                             # re-learning the same knob replaces the binding
    assert [b.param for b in m.bindings] == ["gate"]
    with pytest.raises(ConfigError):
        m.learn("arp", "nope")
    assert 'param = "gate"' in m.bindings[0].to_toml()

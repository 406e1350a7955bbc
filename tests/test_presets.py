"""Presets, learned CC mappings and the user folder (bridge/presets.py): units, the CLI, and a running host."""
from __future__ import annotations

import json
import socket
import subprocess

import pytest

from bridge import presets
from bridge.errors import ConfigError, InputError
from fakeplugins import ARP
from fakeplugins.arp import Arp
from fakeplugins.running import BridgeRun, cli
from test_cli_cc import replies, status_until


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CMT_BRIDGE_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cmt-bridge"


def test_user_folder_honours_xdg_and_cmt_bridge_home(home, tmp_path, monkeypatch):
    assert presets.user_folder() == home and presets.user_folder("midime") == home / "midime"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert presets.user_folder() == tmp_path / "h" / ".config" / "cmt-bridge"
    monkeypatch.setenv("CMT_BRIDGE_HOME", str(tmp_path / "mine"))
    assert presets.user_folder("presets") == tmp_path / "mine" / "presets"


def test_save_read_check_and_list(home):
    values = {"arp": {"root": 48, "gate": 0.25, "velocity": 100}, "other": {"x": 'say "hi" \\ é'}}
    path = presets.save_preset("calm one", values)
    assert path == home / "presets" / "calm one.toml"
    assert presets.read_preset("calm one") == values                 # TOML round trip, quotes and all
    assert presets.list_presets() == ["calm one"]
    with pytest.raises(InputError, match="exists"):
        presets.save_preset("calm one", values, force=False)
    checked, missing = presets.check_preset("calm one", values, {"arp": Arp})
    assert checked == {"arp": {"root": 48, "gate": 0.25, "velocity": 100}} and missing == ["other"]
    with pytest.raises(ConfigError, match=r"preset bad: arp.root must be in range 24..96, got 200"):
        presets.check_preset("bad", {"arp": {"root": 200}}, {"arp": Arp})
    with pytest.raises(ConfigError, match="arp has no parameter 'nope'"):
        presets.check_preset("bad", {"arp": {"nope": 1}}, {"arp": Arp})
    for bad in ("../x", "a/b", "", ".hidden", "x" * 70):
        with pytest.raises(InputError, match="name"):
            presets.preset_path(bad)
    with pytest.raises(InputError, match=r"no preset 'gone' .*have: calm one"):
        presets.read_preset("gone")
    (home / "presets" / "broken.toml").write_text("tempo = [")
    with pytest.raises(ConfigError, match="broken.toml"):
        presets.read_preset("broken")


def test_learned_cc_file_keeps_one_binding_per_controller(home):
    from bridge.cc import CCBinding

    presets.remember_cc(CCBinding(74, 2, "arp", "root"))
    presets.remember_cc(CCBinding(21, None, "arp", "gate"))
    presets.remember_cc(CCBinding(74, 2, "arp", "velocity"))   # the same knob learned again: replaces
    assert sorted(map(json.dumps, presets.read_cc())) == sorted(map(json.dumps, [
        {"cc": 21, "generator": "arp", "param": "gate"},
        {"cc": 74, "channel": 3, "generator": "arp", "param": "velocity"}]))
    learned = [CCBinding(74, 2, "arp", "velocity"), CCBinding(21, None, "arp", "gate")]
    merged = presets.merge_cc(learned, [CCBinding(74, 2, "arp", "root")])
    assert merged == [CCBinding(21, None, "arp", "gate"), CCBinding(74, 2, "arp", "root")]


def _cli(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([*cli(), *args], capture_output=True, text=True, env=env, timeout=60)


def test_cli_save_list_show_and_refusals(home, monkeypatch):
    import os

    env = {**os.environ, "CMT_BRIDGE_PLUGINS": ARP, "CMT_BRIDGE_DISABLE": "midime,tagger,cmt,transcription"}
    r = _cli("preset", "save", "calm", "--set", "arp.root=40", "--set", "arp.gate=0.3", env=env)
    assert r.returncode == 0, r.stderr
    assert presets.read_preset("calm") == {"arp": {"root": 40, "gate": 0.3}}
    r = _cli("preset", "save", "calm", "--set", "arp.root=41", env=env)
    assert r.returncode == 2 and "exists" in r.stderr and presets.read_preset("calm")["arp"]["root"] == 40
    r = _cli("preset", "save", "loud", "--set", "arp.root=400", env=env)
    assert r.returncode == 2 and "arp.root must be in range 24..96, got 400" in r.stderr
    assert not (home / "presets" / "loud.toml").exists()
    r = _cli("preset", "list", env=env)
    assert r.returncode == 0 and "calm  (arp: 2 values)" in r.stdout
    r = _cli("preset", "show", "calm", env=env)
    assert "[generators.arp]" in r.stdout and "root = 40" in r.stdout


def test_a_running_host_saves_loads_lists_and_starts_with_a_preset(jack_server, home):
    import os

    env = {**jack_server.env, "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    run = BridgeRun("--set", "arp.root=50", plugins=(ARP,), env=env, reply_port=reply.getsockname()[1])
    try:
        run.wait_ready()
        run.send("/cmt/arp/gate", 0.2)
        status_until(run, reply, lambda s: s["generators"]["arp"]["params"]["gate"] == pytest.approx(0.2))
        run.send("/cmt/preset/save", "verse")
        assert replies(reply, "/cmt/info")[0] == "preset"
        assert presets.read_preset("verse")["arp"]["root"] == 50
        run.send("/cmt/arp/root", 70)
        run.send("/cmt/arp/gate", 0.5)
        status_until(run, reply, lambda s: s["generators"]["arp"]["params"]["root"] == 70)
        run.send("/cmt/preset/load", "verse")
        s = status_until(run, reply, lambda s: s["generators"]["arp"]["params"]["root"] == 50)
        assert s["generators"]["arp"]["params"]["root"] == 50
        assert s["generators"]["arp"]["params"]["gate"] == pytest.approx(0.2)
        run.send("/cmt/preset/list")
        assert json.loads(replies(reply, "/cmt/presets")[0]) == ["verse"]
        presets.save_preset("wrong", {"arp": {"root": 7, "gate": 0.3}})
        run.send("/cmt/preset/load", "wrong")                 # nothing of it applies: root is out of range
        assert replies(reply, "/cmt/error") == ["/cmt/preset/load", "preset wrong: arp.root must be in range "
                                                                    "24..96, got 7"]
        run.send("/cmt/preset/load", "../etc")
        assert "must be 1..64 letters" in replies(reply, "/cmt/error")[1]
        s = status_until(run, reply, lambda s: True)
        assert s["generators"]["arp"]["params"]["gate"] == pytest.approx(0.2)
        r = _cli("preset", "load", "verse", "--osc-port", str(run.osc_port), env=env)   # the CLI sends OSC
        assert r.returncode == 0, r.stderr
        assert "loaded verse" in " ".join(replies(reply, "/cmt/info"))
    finally:
        run.close()
    run = BridgeRun("--preset", "verse", plugins=(ARP,), env=env, reply_port=reply.getsockname()[1])
    try:
        run.wait_ready()
        s = status_until(run, reply, lambda s: True)
        assert s["generators"]["arp"]["params"]["gate"] == pytest.approx(0.2)
        assert s["generators"]["arp"]["params"]["root"] == 50
    finally:
        run.close()
        reply.close()

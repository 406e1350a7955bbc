"""The cmt-bridge CLI as a user meets it: help, listing, schema, one-line errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from fakeplugins import ARP
from fakeplugins.running import cli


def cmt(*args, env_extra=None, timeout=60):
    env = dict(os.environ, CMT_BRIDGE_PLUGINS=ARP, CMT_BRIDGE_DISABLE="midime", **(env_extra or {}))
    return subprocess.run([*cli(), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_help_teaches_and_imports_nothing_heavy():
    out = cmt("--help")
    assert out.returncode == 0 and "examples:" in out.stdout and "osc-schema" in out.stdout
    assert "examples:" in cmt("run", "--help").stdout
    code = ("import sys, bridge.cli as c; p = c.build_parser(); print(sorted(m for m in "
            "('torch', 'onnxruntime', 'numpy', 'rtmidi', 'mido', 'cv2', 'music21') if m in sys.modules))")
    # the host's own CLI imports none of them; with every built-in plugin's commands, still no torch/ORT
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, CMT_BRIDGE_DISABLE="midime,transcription"))
    assert alone.stdout.strip() == "[]", alone.stdout + alone.stderr
    full = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    heavy = {"torch", "onnxruntime", "cv2", "music21"} & set(eval(full.stdout.strip() or "[]"))
    assert not heavy, full.stdout + full.stderr


def test_plugins_lists_params_and_actions():
    out = cmt("plugins")
    assert out.returncode == 0
    assert "arp" in out.stdout and "param  root" in out.stdout and "action burst" in out.stdout
    data = json.loads(cmt("plugins", "--json").stdout)
    assert data["generators"]["arp"]["params"][0]["name"] == "root"


def test_osc_schema_is_json_with_the_plugin_addresses():
    schema = json.loads(cmt("osc-schema").stdout)
    addresses = {a["address"] for a in schema["in"]}
    assert {"/cmt/play", "/cmt/arp/root", "/cmt/arp/burst"} <= addresses
    assert "| in | `/cmt/arp/root` |" in cmt("osc-schema", "--markdown").stdout


def test_user_errors_are_one_line_exit_2():
    for args, text in [(("run", "--tempo", "999", "--api", "none"), "tempo must be in range 20..300"),
                       (("run", "--api", "none", "--play", "nobody"), "--play nobody: no such generator"),
                       (("run", "--config", "/no/such.toml"), "does not exist"),
                       (("run", "--osc-host", "0.0.0.0"), "needs an allow-list"),
                       (("run", "--set", "arp=1"), "GENERATOR.PARAM=VALUE"),
                       (("pianoroll", "/no/such.mid", "-o", "/tmp/x.png"), "")]:
        out = cmt(*args)
        assert out.returncode == 2, (args, out.stderr)
        lines = [line for line in out.stderr.splitlines() if line.startswith("cmt-bridge: error:")]
        assert len(lines) == 1 and text in lines[0], (args, out.stderr)
        assert "Traceback" not in out.stderr


def test_bad_defaults_for_a_loaded_generator_fail_at_start():
    out = cmt("run", "--api", "none", "--no-record", "--set", "arp.root=500", "--osc-port", "0")
    assert out.returncode == 2 and "defaults for arp: root must be in range 24..96" in out.stderr


def test_do_flag_parses_and_rejects_bad_forms():
    import pytest

    from bridge.cli import parse_do
    from bridge.errors import ConfigError

    assert parse_do("cmt.camera=0") == ("cmt", "camera", ["0"])
    assert parse_do("midime.sample") == ("midime", "sample", [])
    assert parse_do("x.y=a, b") == ("x", "y", ["a", "b"])
    assert parse_do(r"cmt.video=take 1\, final.mp4") == ("cmt", "video", ["take 1, final.mp4"])
    for bad in ("cmt", ".camera=1", "cmt.=1"):
        with pytest.raises(ConfigError, match="--do"):
            parse_do(bad)


def test_a_closed_pipe_is_not_a_traceback():
    # `cmt-bridge osc-schema --markdown | head`: the reader goes away before the writer is done
    p = subprocess.Popen([*cli(), "osc-schema", "--markdown"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, CMT_BRIDGE_PLUGINS=ARP))
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(60) == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_ctrl_c_to_the_whole_process_group_stops_quietly():
    # a terminal's Ctrl-C reaches the host and its output process at once: a normal stop, no WARNING
    from peers import free_udp_port as free_port

    p = subprocess.Popen([*cli(), "run", "--api", "none", "--no-record", "--osc-port", str(free_port()),
                          "--reply-port", str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, start_new_session=True, env=dict(os.environ, CMT_BRIDGE_PLUGINS=ARP,
                                                                     CMT_BRIDGE_DISABLE="midime,cmt,transcription"))
    try:
        assert "ready" in p.stdout.readline()
        os.killpg(p.pid, signal.SIGINT)
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0 and "WARNING" not in out and "Traceback" not in out, out
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)

"""A third-party plugin package, pip-installed for real, found through its entry point and played."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.plugins import collect_generators, make_plugin_manager
from fakeplugins.running import BridgeRun, cli, note_pairs

PACKAGE = Path(__file__).resolve().parent / "thirdparty"


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    # build from a copy so the source tree stays clean (no build/ or egg-info left behind)
    src = tmp_path_factory.mktemp("thirdparty") / "pkg"
    shutil.copytree(PACKAGE, src)
    done = pip("install", "--no-deps", "--no-build-isolation", str(src))
    if done.returncode != 0:
        pytest.fail(f"pip install failed: {done.stderr[-800:]}")
    yield
    done = pip("uninstall", "-y", "cmt-bridge-drone")
    assert done.returncode == 0, done.stderr
    # uninstalled means undiscoverable (a fresh process: entry points are read at start-up)
    out = subprocess.run([*cli(), "plugins"], capture_output=True, text=True, timeout=60)
    assert "drone" not in out.stdout


def test_entry_point_is_discovered(installed):
    pm = make_plugin_manager()
    gens, errors = collect_generators(pm)
    assert "drone" in gens and pm.has_plugin("drone")
    out = subprocess.run([*cli(), "plugins"], capture_output=True, text=True, timeout=60)
    assert "drone  (drone)" in out.stdout
    hello = subprocess.run([*cli(), "drone"], capture_output=True, text=True, timeout=60)
    assert hello.returncode == 0 and "drone plugin says hello" in hello.stdout


def test_disable_by_entry_point_name(installed, monkeypatch):
    monkeypatch.setenv("CMT_BRIDGE_DISABLE", "drone")
    gens, _ = collect_generators(make_plugin_manager())
    assert "drone" not in gens


def test_installed_plugin_plays_into_jack(installed, jack_server, midi_receiver):
    run = BridgeRun("--play", "drone", "--tempo", "240", env=jack_server.env)
    try:
        run.wait_ready()
        dump = midi_receiver(run.port_name)
        msgs = dump.wait_for(lambda m: len(note_pairs(m)[0]) >= 2, 20)
        pairs, _ = note_pairs(msgs)
        assert len(pairs) >= 2 and all(on.channel == 9 and on.data[1] == 43 for on, _ in pairs)
        assert run.stop() == 0
        assert note_pairs(dump.messages())[1] == {}
    finally:
        run.close()

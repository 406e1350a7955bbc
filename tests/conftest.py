"""Shared fixtures: real peers in their own processes (see tests/peers.py).

``jack_server`` (session scope) -> peers.JackServer
    One ``jackd --no-realtime -n <unique name> -d dummy -r 48000 -p 64`` for the
    whole run. While it lives, ``os.environ["JACK_DEFAULT_SERVER"]`` names it, so
    rtmidi / JACK-Client / jack_* tools in this process and its children use it.
    Attributes: ``name``, ``rate`` (48000), ``period`` (64), ``env`` (dict for
    subprocesses), ``ports()``, ``connect(src, dst)`` (retries until both exist).
    Skips the test when jackd is not installed. Stale JACK shm is cleared (only
    when no jackd runs at all) if the server fails to start.

``midi_receiver`` (function scope) -> factory ``midi_receiver(source_port=None, client=None) -> peers.MidiDump``
    Starts ``jack_midi_dump -a`` (another process) and, when ``source_port`` is
    given, connects that JACK port to it. ``.messages()`` -> list of
    ``MidiMessage(frames, time_s, data: bytes)`` (``.is_note_on``, ``.is_note_off``,
    ``.channel``, ``.status``); ``.wait_for(predicate, timeout)`` polls until
    ``predicate(messages)``; ``.connect(port)`` adds a source. Killed after the test.

The user folder (presets, learned CC mappings, personal models; bridge.presets.user_folder) is a fresh
temporary folder for every test (``XDG_CONFIG_HOME``, inherited by every subprocess), so tests never
read or write the real ``~/.config/cmt-bridge``, and what one test learns (a cc.toml) never reaches
the next.

``osc_receiver`` (function scope) -> factory ``osc_receiver(port=None) -> peers.OscDump``
    Starts ``oscdump -L PORT`` (liblo-tools) on a free UDP port (``.port``);
    ``.messages(address=None)`` -> list of ``OscMessage(time_s, address, types, args)``;
    ``.wait_for(predicate, timeout)``. Killed after the test.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402

os.environ.pop("CMT_BRIDGE_HOME", None)
os.environ["XDG_CONFIG_HOME"] = __import__("tempfile").mkdtemp(prefix="cmt-bridge-test-config-")


from jack_rerun import pytest_collection_modifyitems, pytest_runtest_call  # noqa: E402,F401  (its hooks)


@pytest.fixture(autouse=True)
def fresh_user_folder(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("user-config")))


@pytest.fixture(scope="session")
def jack_server():
    if shutil.which("jackd") is None or shutil.which("jack_midi_dump") is None:
        pytest.skip("jackd / jack_midi_dump not installed (Debian package jackd2)")
    server = peers.JackServer(name=f"cmtbtest{os.getpid()}")
    server.start()
    previous = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = server.name
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = previous
        server.stop()


@pytest.fixture
def midi_receiver(jack_server):
    started: list[peers.MidiDump] = []

    def make(source_port: str | None = None, client: str | None = None) -> peers.MidiDump:
        dump = peers.MidiDump(jack_server, client)
        started.append(dump)
        if source_port is not None:
            dump.connect(source_port)
        return dump

    yield make
    for dump in started:
        dump.close()


@pytest.fixture
def osc_receiver():
    if shutil.which("oscdump") is None:
        pytest.skip("oscdump not installed (Debian package liblo-tools)")
    started: list[peers.OscDump] = []

    def make(port: int | None = None) -> peers.OscDump:
        dump = peers.OscDump(port)
        started.append(dump)
        return dump

    yield make
    for dump in started:
        dump.close()


@pytest.fixture(scope="module")
def schema() -> dict:
    """``cmt-bridge osc-schema`` of the installed plugins (no CMT_BRIDGE_* overrides): what the patches and the
    Live devices are generated from and checked against."""
    import json
    import subprocess

    exe = Path(sys.executable).with_name("cmt-bridge")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "bridge"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMT_BRIDGE_")}
    done = subprocess.run([*cli, "osc-schema"], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1], timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

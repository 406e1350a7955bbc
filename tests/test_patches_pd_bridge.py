"""The Pd control twin, headless, drives a running ``cmt-bridge run`` on a JACK dummy server.

Pd (its own process) is scripted only through the patch's own hooks
(``pd -send "cmt-play arp"`` reaches ``[r cmt-play]`` -> ``[oscformat cmt play]``
-> ``[netsend -u -b]``): it starts playback (notes arrive at jack_midi_dump),
changes a parameter (the /cmt/status reply Pd prints shows it) and sends a bad
value (the /cmt/error reply is printed by Pd on stderr).
With the fake ``arp`` generator the twin is generated from the schema that
includes it; with the real ``midime`` generator the committed twin is used
(when a MusicVAE model folder is available).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fakeplugins import ARP
from fakeplugins.running import BridgeRun

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "max_patches"))

import make_patches  # noqa: E402

PD = shutil.which("pd")
pytestmark = pytest.mark.skipif(PD is None, reason="Pure Data not installed (Debian package puredata-core)")


class PdRun:
    """``pd -nogui ... -send ... -open patch``; stderr (where [print] writes) collected in the background."""

    def __init__(self, patch: Path, *sends: str):
        cmd = [PD, "-nogui", "-noaudio", "-nomidi", "-stderr"]
        for s in sends:
            cmd += ["-send", s]
        self.proc = subprocess.Popen([*cmd, "-open", str(patch)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def printed(self, name: str) -> list[str]:
        """What ``[print name]`` printed, with Pd's escapes (``\\ ``, ``\\,``) undone."""
        prefix = f"{name}: "
        return [re.sub(r"\\(.)", r"\1", line[len(prefix):]) for line in self.lines if line.startswith(prefix)]

    def wait_for(self, name: str, predicate, timeout: float = 30.0) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [x for x in self.printed(name) if predicate(x)]
            if hits:
                return hits
            time.sleep(0.1)
        raise AssertionError(f"Pd never printed a matching {name} line; Pd said:\n" + "\n".join(self.lines))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def started(jack_server):
    """started(bridge_args..., plugins=..., env=...) -> BridgeRun; every bridge and Pd is closed after the test."""
    runs: list = []

    # visuals off: Pd prints a symbol of at most ~1000 characters, and /cmt/status of every generator is longer
    def bridge(*args, plugins=(), disable="midime,midime16,visuals", env=None) -> BridgeRun:
        run = BridgeRun(*args, plugins=plugins, disable=disable, env=dict(jack_server.env, **(env or {})))
        runs.append(run)
        return run.wait_ready(60)

    def pd(patch: Path, *sends: str) -> PdRun:
        p = PdRun(patch, *sends)
        runs.append(p)
        return p

    bridge.pd = pd
    yield bridge
    for r in reversed(runs):
        r.close()


def _schema_with(*plugins: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from bridge.osc import OscSchema
    from bridge.plugins import builtin_plugins, collect_generators, make_plugin_manager

    builtins = [p for p in builtin_plugins() if p != "plugins.midime.plugin"]   # every built-in but midime
    gens, errors = collect_generators(make_plugin_manager(extra=(*builtins, *plugins), entry_points=False))
    assert not errors and "arp" in gens
    return json.loads(json.dumps(OscSchema(gens).describe(), default=str))


def _status(pd: PdRun, check, run: BridgeRun | None = None, timeout: float = 30.0) -> dict:
    """The first /cmt/status Pd printed for which ``check`` holds (``run``: ask again every second;
    parameters reach a generator on its worker, between phrases)."""
    def ok(text: str) -> bool:
        try:
            return check(json.loads(text))
        except (ValueError, KeyError):
            return False
    end = time.monotonic() + timeout
    while run is not None and time.monotonic() < end and not any(ok(x) for x in pd.printed("cmt-status")):
        run.send("/cmt/status")
        time.sleep(1.0)
    return json.loads(pd.wait_for("cmt-status", ok, max(1.0, end - time.monotonic()))[0])


def test_pd_twin_plays_sets_a_parameter_and_prints_the_error_for_a_bad_value(started, midi_receiver, tmp_path):
    make_patches.write(_schema_with(ARP), tmp_path)
    patch = tmp_path / "cmt-bridge-control.pd"
    assert "oscformat -f i cmt arp root" in patch.read_text()
    run = started("--tempo", "240", plugins=(ARP,))
    dump = midi_receiver(run.port_name)
    pd = started.pd(patch, f"cmt-connect {run.osc_port}", f"cmt-listen {run.reply_port}",
                    "cmt-arp-root 48", "cmt-play arp", "cmt-status bang", "cmt-arp-root 1000")
    # playback: notes of the arpeggio on root 48 (the parameter Pd set) reach the JACK receiver
    msgs = dump.wait_for(lambda m: sum(x.is_note_on and x.data[1] in (48, 52) for x in m) >= 2, timeout=30)
    pitches = [x.data[1] for x in msgs if x.is_note_on]
    assert {48, 52} <= set(pitches), (pitches, len(msgs), run.port_name, run.output[-1500:])
    # the parameter change is visible in the /cmt/status reply Pd printed (asked again until the worker
    # has applied it: parameters reach a generator between phrases)
    status = _status(pd, lambda s: "arp" in s["playing"] and s["generators"]["arp"]["params"]["root"] == 48
                     and s["tempo"] == 240.0, run)
    assert status["generators"]["arp"]["params"]["velocity"] == 90
    # the bad value came back as /cmt/error and Pd printed it
    err = pd.wait_for("cmt-error", lambda e: e.startswith("/cmt/arp/root"))
    assert "root must be in range 24..96" in err[0], err
    raw = [line for line in pd.lines if line.startswith("cmt-error: /cmt/arp/root")]
    assert raw[0] == "cmt-error: /cmt/arp/root root must be in range 24..96", raw   # words, no escapes
    # the bad value changed nothing; Pd's stop reaches the host too
    pd2 = started.pd(patch, f"cmt-connect {run.osc_port}", f"cmt-listen {run.reply_port}", "cmt-stop bang",
                     "cmt-status bang")
    status = _status(pd2, lambda s: s.get("playing") == [] and s["tempo"] == 240.0)
    assert status["generators"]["arp"]["params"]["root"] == 48
    assert run.stop() == 0, run.output


def _model_dir(tmp_path: Path) -> Path | None:
    for folder in (ROOT / "onnx_models" / "musicvae-mel2bar", ROOT / "runs" / "tiny" / "export"):
        if (folder / "manifest.json").exists():
            models = tmp_path / "models"
            models.mkdir()
            (models / "musicvae-mel2bar").symlink_to(folder.resolve())
            return models
    return None


def test_committed_pd_twin_drives_the_real_midime_generator(started, midi_receiver, tmp_path):
    models = _model_dir(tmp_path)
    if models is None:
        pytest.skip("no MusicVAE model folder (onnx_models/musicvae-mel2bar or runs/tiny/export)")
    run = started("--tempo", "200", disable="", env={"CMT_BRIDGE_MODELS": str(models)})
    dump = midi_receiver(run.port_name)
    pd = started.pd(make_patches.HERE / "cmt-bridge-control.pd", f"cmt-connect {run.osc_port}",
                    f"cmt-listen {run.reply_port}", "cmt-midime-temperature 0.9", "cmt-midime-channel 3",
                    "cmt-play midime", "cmt-status bang", "cmt-midime-temperature 5")
    err = pd.wait_for("cmt-error", lambda e: e.startswith("/cmt/midime/temperature"), timeout=60)
    assert "temperature must be in range 0.0..2.0" in err[0], err
    status = _status(pd, lambda s: "midime" in s["playing"] and s["generators"]["midime"]["params"]["channel"] == 3,
                     run, timeout=60)
    assert status["generators"]["midime"]["params"]["temperature"] == pytest.approx(0.9)
    # MidiMe's phrases play; once the new channel reaches its phrase queue they are on channel 3
    msgs = dump.wait_for(lambda m: any(x.is_note_on and x.channel == 2 for x in m), timeout=90)
    assert any(x.is_note_on and x.channel == 2 for x in msgs), run.output
    assert run.stop() == 0, run.output

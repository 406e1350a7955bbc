"""Paths the OS refuses (too long, a folder, under a file) and odd config encodings: one-line errors, nothing lost."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bridge.clock import Clock
from bridge.config import read_file
from bridge.errors import ConfigError, InputError
from bridge.host import Host
from bridge.paths import input_file, os_reason, output_folder, output_path
from bridge.plugins import collect_generators, make_plugin_manager, plugin_of
from fakeplugins.doubles import RecordingTransport
from test_host import wait_for

ROOT = Path(__file__).resolve().parents[1]
LONG = "x" * 300


@pytest.fixture
def places(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "adir").mkdir()
    return tmp_path


@pytest.mark.parametrize("name, why", [
    (LONG + ".mid", "too long"), ("adir", "a folder, not a file"), ("afile/x.mid", "a part of the path is a file"),
    ("nothing.mid", "no such MIDI file")])
def test_input_file_says_why_in_one_line(places, name, why):
    with pytest.raises(InputError, match=why) as err:
        input_file(places / name, "MIDI file")
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


@pytest.mark.parametrize("name, why", [
    (LONG + ".png", "too long"), ("adir", "a folder, not a file"), ("afile/x.png", "a part of the path is a file"),
    (LONG + "/x.png", "too long")])
def test_output_path_says_why_before_any_work(places, name, why):
    with pytest.raises(InputError, match=why):
        output_path(places / name, "-o")
    assert output_path(places / "new" / "deep" / "x.png") == places / "new" / "deep" / "x.png"


def test_output_folder_refuses_a_file_and_a_path_under_one(places):
    with pytest.raises(InputError, match="a file, not a folder"):
        output_folder(places / "afile", "-o")
    with pytest.raises(InputError, match="a part of the path is a file"):
        output_folder(places / "afile" / "sub", "-o")
    assert output_folder(places / "made").is_dir()


def test_os_reason_shortens_long_paths():
    try:
        open("/tmp/" + LONG)
    except OSError as e:
        line = os_reason(e)
    assert "too long" in line and "(305 characters)" in line and len(line) < 140


# -- the host: an OSError from an action is bad input, the generator plays on -----------------------

OPENER = '''
from bridge.api import Action, Generator, Note, Param, Phrase, hookimpl

class Opener(Generator):
    name = "opener"
    actions = (Action("load", (Param("path", str, ""),)),)

    def next_phrase(self):
        return Phrase.of([Note(60, 80, 0.0, 0.5)], self.context.beats_per_bar, self.name)

    def action_load(self, path):
        open(path).close()      # raises whatever the OS says, as a careless plugin would
        return None

@hookimpl
def cmtbridge_register_generators():
    return [Opener]
'''


def real_host(*extra, builtins=True):
    pm = make_plugin_manager(extra=extra, entry_points=builtins)   # the built-in plugins are entry points
    gens, errors = collect_generators(pm)
    transport = RecordingTransport()
    reported = []
    host = Host(gens, Clock(300.0), transport, plugin_of=lambda n: plugin_of(pm, n),
                on_error=lambda a, r: reported.append((a, r)))
    assert host.load() == []
    assert host.wait_prepared(30)
    return host, transport, reported


def test_an_oserror_from_an_action_is_answered_and_the_generator_keeps_playing(tmp_path):
    plugin = tmp_path / "opener.py"
    plugin.write_text(OPENER)
    host, transport, reported = real_host(str(plugin), builtins=False)
    try:
        host.play("opener")
        for path in ("/tmp/" + LONG, str(tmp_path), str(plugin / "x")):
            host.perform("opener", "load", [path])
        assert wait_for(lambda: len(reported) == 3)
        for address, reason in reported:
            assert address == "/cmt/opener/load" and "stopped" not in reason and "\n" not in reason
        assert "too long" in reported[0][1] and "a folder" in reported[1][1] and "is a file" in reported[2][1]
        n = len(transport.of("opener"))
        assert wait_for(lambda: len(transport.of("opener")) > n + 2)
        assert host.status()["generators"]["opener"]["playing"]
    finally:
        host.stop()
        host.close()


MODELS = ROOT / "onnx_models"


@pytest.mark.skipif(not all((MODELS / m / "manifest.json").is_file() for m in ("cmt", "musicvae-mel2bar",
                                                                            "transcription")),
                    reason="needs the shipped models")
def test_too_long_and_folder_paths_to_the_real_generators_are_bad_input(tmp_path):
    host, transport, reported = real_host()
    try:
        actions = [("midime", a) for a in ("phrase_a", "phrase_b", "personal")] + \
                  [("transcription", "file"), ("cmt", "video")]
        host.play("midime")
        for gen, action in actions:
            host.perform(gen, action, ["/tmp/" + LONG])
            host.perform(gen, action, [str(tmp_path)])
        assert wait_for(lambda: len(reported) == 2 * len(actions), 20), reported
        for gen, action in actions:     # each worker answers its own in order; workers interleave
            long_, folder = [reason for address, reason in reported if address == f"/cmt/{gen}/{action}"]
            assert "too long" in long_ and "a folder, not a file" in folder, (long_, folder)
            assert "stopped" not in long_ + folder
        n = len(transport.of("midime"))
        assert wait_for(lambda: len(transport.of("midime")) > n, 15)   # midime still plays
    finally:
        host.stop()
        host.close()


# -- CLI -o targets that cannot be written ----------------------------------------------------------

def cli(*args, cwd):
    exe = Path(sys.executable).with_name("cmt-bridge")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from bridge.events import Note
    from bridge.midifile import write_notes
    from plugins.transcription.audio import write_wav
    import numpy as np

    d = tmp_path_factory.mktemp("inputs")
    write_notes(d / "tune.mid", [Note(60 + (i % 5) * 2, 90, i * 0.5, 0.45) for i in range(32)], bpm=120)
    t = np.arange(16000) / 16000
    write_wav(d / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    from clips import still_then_moving

    still_then_moving(d / "clip.mp4", seconds=2.0)
    return d


def commands(inputs, out):
    return {
        "pianoroll": ["pianoroll", str(inputs / "tune.mid"), "-o", out],
        "midime sample": ["midime", "sample", "-n", "1", "-o", out],
        "midime interpolate": ["midime", "interpolate", str(inputs / "tune.mid"), str(inputs / "tune.mid"),
                               "-o", out],
        "midime learn": ["midime", "learn", str(inputs / "tune.mid"), "-o", out],
        "transcribe": ["transcribe", str(inputs / "tone.wav"), "-o", out],
        "cmt video2midi": ["cmt", "video2midi", str(inputs / "clip.mp4"), "-o", out],
    }


@pytest.mark.parametrize("which", ["pianoroll", "midime sample", "midime interpolate", "midime learn",
                                   "transcribe", "cmt video2midi"])
@pytest.mark.parametrize("target", ["a folder", "under a file"])
def test_unwritable_output_targets_are_one_line_errors(places, inputs, which, target):
    folder_out = which in ("midime sample", "midime interpolate")
    if target == "a folder":
        out = "afile" if folder_out else "adir"
        if which == "cmt video2midi":
            out = "adir.mid"
            (places / out).mkdir()
    else:
        out = "afile/x" if folder_out else "afile/x.mid"
    r = cli(*commands(inputs, out)[which], cwd=places)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("cmt-bridge: error: ") and (out.split("/")[0] in r.stderr)


# -- config encodings ---------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                           ("utf-16-be", b"\xfe\xff")])
def test_config_in_utf8_with_a_bom_or_utf16_reads_the_same(tmp_path, encoding, bom):
    path = tmp_path / "live.toml"
    path.write_bytes(bom + 'tempo = 97.0\nplay = "midime"\n[osc]\nport = 9100\n'.encode(encoding))
    assert read_file(path) == {"tempo": 97.0, "play": ["midime"], "osc_port": 9100}


def test_a_config_that_is_not_text_says_so_in_one_line(tmp_path):
    path = tmp_path / "live.toml"
    path.write_bytes(b"tempo = 97.0\n\xff\xfe\xfa = 1\n")
    with pytest.raises(ConfigError, match="not UTF-8 text .* save it as UTF-8"):
        read_file(path)
    r = cli("run", "--config", str(path), "--seconds", "0", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not UTF-8 text" in r.stderr

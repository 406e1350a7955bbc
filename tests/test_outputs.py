"""Never lose work: outputs are numbered or refused without --force, never written over an input; the
session recording takes a {time} placeholder and never replaces an earlier take; seeds are printed and
stored in the files."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mido
import pytest

from bridge.app import recording_path
from bridge.errors import InputError
from bridge.paths import claim_set, numbered, output_path, same_file, with_time
from bridge.runtime import default_models_dir

ROOT = Path(__file__).resolve().parents[1]


def test_output_path_refuses_an_existing_file_without_force_and_an_input_always(tmp_path):
    made = tmp_path / "a.mid"
    made.write_bytes(b"take 1")
    assert output_path(made, "-o") == made                      # the default keeps the old behaviour
    with pytest.raises(InputError, match="already exists: pass --force"):
        output_path(made, "-o", force=False)
    assert output_path(made, "-o", force=True) == made
    link = tmp_path / "same.mid"
    link.symlink_to(made)
    for force in (False, True):
        with pytest.raises(InputError, match="is an input of this command"):
            output_path(link, "--render", force=force, inputs=[made])
    assert same_file(link, made) and not same_file(tmp_path / "none", made)
    assert made.read_bytes() == b"take 1"


def test_numbered_and_time_placeholders(tmp_path):
    take = tmp_path / "take.mid"
    assert numbered(take) == take
    take.write_bytes(b"1")
    assert numbered(take) == tmp_path / "take-2.mid"
    (tmp_path / "take-2.mid").write_bytes(b"2")
    assert numbered(take) == tmp_path / "take-3.mid"
    stamp = with_time(tmp_path / "set-{time}.mid", now=0.0).name
    assert stamp.startswith("set-19") and stamp.endswith(".mid") and "{" not in stamp


def test_a_fixed_record_path_keeps_every_take(tmp_path):
    fixed = str(tmp_path / "takes" / "live.mid")
    first = recording_path(fixed)
    first.write_bytes(b"take 1")
    second = recording_path(fixed)
    assert second == tmp_path / "takes" / "live-2.mid" and first.read_bytes() == b"take 1"
    timed = recording_path(str(tmp_path / "gig-{time}.mid"), now=86400.0 * 365)
    assert "{time}" not in timed.name and timed.name.startswith("gig-1971")
    assert recording_path(None) is None


def test_claim_set_refuses_or_clears_an_earlier_set(tmp_path):
    for name in ("sample_01.mid", "sample_02.mid", "sample_07.mid", "sample_all.mid", "sample.png", "keep.mid"):
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InputError, match="already holds sample.png, sample_01.mid, sample_02.mid and 2 more"):
        claim_set(tmp_path, "sample")
    removed = claim_set(tmp_path, "sample", force=True)
    assert len(removed) == 5 and sorted(p.name for p in tmp_path.iterdir()) == ["keep.mid"]
    assert claim_set(tmp_path / "new", "sample") == []


@pytest.mark.skipif(not (default_models_dir() / "musicvae-mel2bar" / "manifest.json").is_file(),
                    reason="no MusicVAE model")
def test_midime_sample_leaves_no_stale_files_and_stores_its_seed(tmp_path):
    env = dict(os.environ, CMT_BRIDGE_MODELS=str(default_models_dir()), PYTHONPATH=str(ROOT))

    def sample(*args):
        return subprocess.run([sys.executable, "-m", "plugins.midime", "sample", "-o", "out", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=120)

    r = sample("-n", "4")
    assert r.returncode == 0, r.stderr
    seed = int(next(line for line in r.stderr.splitlines() if line.startswith("seed ")).split()[1])
    texts = [m.text for t in mido.MidiFile(tmp_path / "out" / "sample_all.mid").tracks for m in t if m.type == "text"]
    assert texts == [f"seed {seed}"]
    before = (tmp_path / "out" / "sample_01.mid").read_bytes()
    r = sample("-n", "2")
    assert r.returncode == 2 and "--force" in r.stderr
    assert (tmp_path / "out" / "sample_01.mid").read_bytes() == before       # nothing overwritten
    r = sample("-n", "2", "--force", "--seed", str(seed))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["sample.png", "sample_01.mid", "sample_02.mid",
                                                                     "sample_all.mid"]   # no stale sample_03/04

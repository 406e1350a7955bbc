"""README, "Adding a model family": the example family runs as written, through the real CLI."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

import numpy as np
import pytest

pytest.importorskip("torch")

from bridge.runtime import ModelBundle  # noqa: E402
from fakeplugins.running import ROOT, cli  # noqa: E402

SECTION = "## Adding a model family"


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION)
    return text[start:text.index("\n## ", start + len(SECTION))]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", readme_section(), flags=re.S)


def test_readme_excerpt_is_the_example_file():
    """Every line the README shows of the example is in export/example/blips.py, in the same order."""
    source = (ROOT / "export" / "example" / "blips.py").read_text().splitlines()
    at = 0
    for line in blocks("python")[0].splitlines():
        if not line.strip() or line.strip() == "...":
            continue
        at = source.index(line, at) + 1  # ValueError: the README shows code the example does not have


def test_readme_walkthrough_prepares_trains_resumes_and_exports(tmp_path):
    env = dict(os.environ, CMT_BRIDGE_DATA=str(tmp_path / "data"), CMT_BRIDGE_MODELS=str(tmp_path / "models"),
               OMP_NUM_THREADS="1")
    outputs = []
    for line in blocks("sh")[0].splitlines():
        words = shlex.split(line.split("#")[0])
        if words[0] == "export":
            key, value = words[1].split("=", 1)
            env[key] = value
            continue
        assert words[0] == "cmt-bridge", line
        r = subprocess.run([*cli(), *words[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (line, r.stderr[-2000:])
        outputs.append(r.stdout)
    assert "blips-tiny" in outputs[1] and "musicvae-mel2bar" in outputs[1]
    run = tmp_path / "runs" / "blips-tiny"
    assert sorted(p.name for p in run.glob("ckpt-*.pt")) == ["ckpt-0000100.pt", "ckpt-0000150.pt"]
    bundle = ModelBundle.load(tmp_path / "models" / "blips")
    man = bundle.manifest
    assert man["version"] == "blips-tiny@150" and man["validation"]["max_abs_diff"] <= 1e-4
    assert man["training"]["command"] == "cmt-bridge train blips-tiny --steps 150 --resume"
    assert man["quality"]["test_acc"] > 2 * man["quality"]["repeat_last_pitch_acc"]
    # trained on melodies that mostly climb the scale: after each scale tone comes the next one up
    logits = bundle.graph("next").run(pitch=np.array([60, 62, 64, 65, 67, 69, 71], np.int64))["logits"]
    assert logits.argmax(1).tolist() == [62, 64, 65, 67, 69, 71, 72]
    assert json.loads((tmp_path / "models" / "blips" / "manifest.json").read_text()) == man

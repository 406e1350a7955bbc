"""The trainer's shape: one family registry, the trainer as a plugin, the host naming no trainer module."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from bridge.errors import BridgeError, ConfigError
from export import families as reg
from fakeplugins.running import ROOT, cli


def test_builtin_families_register_every_dataset_and_config_once():
    fams = reg.load_families(entry_points=False, extra=())
    assert list(fams) == ["musicvae", "musicvae16", "cmt", "transcription", "tagger"]
    assert set(reg.datasets(fams)) == {"folk", "folk16", "midi", "midi-cmt", "cmt", "transcription", "tagger"}
    assert {n for n, (f, _) in reg.configs(fams).items() if f.name == "musicvae16"} == \
        {"musicvae-mel16bar", "musicvae-mel16bar-flat", "musicvae-mel16bar-fb1024", "musicvae-mel16bar-pool", "musicvae16-tiny"}
    assert {n for n, (f, _) in reg.configs(fams).items() if f.name == "tagger"} == \
        {"tagger", "tagger-clmr", "tagger-tiny", "tagger-clmr-tiny"}
    table = reg.configs(fams)
    assert {n for n, (f, _) in table.items() if f.name == "cmt"} == {"cmt", "cmt-large", "cmt-tiny"}
    for fam in fams.values():
        assert fam.shipped and all(table[name][0] is fam for name in fam.shipped)
    with pytest.raises(ConfigError, match="unknown config 'nope'.*musicvae-mel2bar"):
        reg.config("nope", fams)


@dataclass(frozen=True)
class _Cfg:
    name: str
    doc: str = ""


def _family(name: str, configs: dict) -> reg.Family:
    return reg.Family(name=name, doc="", configs=configs, train=lambda *a, **k: None, export=lambda *a, **k: None)


def test_a_config_name_two_families_claim_is_an_error():
    fams = {"a": _family("a", {"x": _Cfg("x")}), "b": _family("b", {"x": _Cfg("x")})}
    with pytest.raises(ConfigError, match="'x' registered by both a and b"):
        reg.configs(fams)


def test_a_family_from_a_file_and_a_duplicate_family(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text("from export.families import Family\n"
                 "FAMILY = Family(name='mine', doc='', configs={}, train=print, export=print)\n")
    assert "mine" in reg.load_families(entry_points=False, extra=[str(f)])
    with pytest.raises(ConfigError, match="registered twice"):
        reg.load_families(modules=("export.cmt", "export.cmt"), entry_points=False, extra=())
    (tmp_path / "none.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match="no FAMILY"):
        reg.load_families(modules=(), entry_points=False, extra=[str(tmp_path / "none.py")])


def test_a_checkpoint_belongs_to_the_family_whose_config_it_holds(tmp_path):
    torch = pytest.importorskip("torch")
    import json

    fams = reg.load_families(entry_points=False, extra=())
    for name, fam in (("musicvae-tiny", "musicvae"), ("cmt-tiny", "cmt"), ("transcription-tiny", "transcription")):
        cfg = reg.config(name, fams)[1].to_dict()
        path = tmp_path / f"{name}.pt"
        torch.save({"config": json.dumps(cfg) if fam == "transcription" else cfg}, path)
        assert reg.family_of_checkpoint(path, fams).name == fam
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BridgeError, match="not a readable training checkpoint"):
        reg.family_of_checkpoint(tmp_path / "junk.pt", fams)


def test_checkpoints_are_saved_atomically_and_pruned_and_restored(tmp_path):
    torch = pytest.importorskip("torch")
    import numpy as np

    from export import checkpoints

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    rng = np.random.default_rng(7)
    for step in (1, 2, 3, 4):
        checkpoints.save(checkpoints.numbered(tmp_path, step), {
            "model": model.state_dict(), "opt": opt.state_dict(), "step": step, "rng": rng.bit_generator.state,
            "history": [{"step": step}], "config": {}})
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["ckpt-0000002.pt", "ckpt-0000003.pt", "ckpt-0000004.pt"]
    want = rng.random()
    again = np.random.default_rng(0)
    step, history = checkpoints.restore(checkpoints.latest_checkpoint(tmp_path), model, opt, again)
    assert step == 4 and history == [{"step": 4}] and again.random() == want


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_host_and_plugins_never_import_the_trainer():
    for folder in ("bridge", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            bad = {m for m in _imports(path) if m == "export" or m.startswith("export.")}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_trainer_is_a_plugin_and_can_be_disabled():
    out = subprocess.run([*cli(), "--help"], capture_output=True, text=True, timeout=60)
    assert all(c in out.stdout for c in ("data", "train", "export-onnx"))
    off = subprocess.run([*cli(), "--help"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, CMT_BRIDGE_DISABLE="trainer"))
    assert "export-onnx" not in off.stdout and "pianoroll" in off.stdout


@pytest.mark.parametrize("argv, missing", [(["train", "musicvae-tiny"], "torch"), (["train", "--list"], "torch"),
                                           (["export-onnx", "--all"], "torch"),
                                           (["data", "prepare", "folk"], "music21")])
def test_without_the_train_extra_each_command_says_how_to_install_it(argv, missing, tmp_path):
    """The commands exist without torch / music21 and fail with one line naming the install command."""
    code = (f"import sys; sys.modules['torch'] = sys.modules['music21'] = None\n"
            f"from bridge.cli import main; sys.exit(main({argv!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env=dict(os.environ, CMT_BRIDGE_DATA=str(tmp_path)))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "needs the train extra" in lines[0] and missing in lines[0] and "pip install" in lines[0]

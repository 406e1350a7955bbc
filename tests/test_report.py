"""The README quotes bench/results/*.json through bench/report.py: its generated blocks are what report.py writes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import report  # noqa: E402


def test_readme_blocks_equal_the_report():
    text = (ROOT / "README.md").read_text()
    fresh, changed = report.update_readme(text)
    assert len(report.BLOCK.findall(text)) >= 10
    assert not changed, f"README blocks out of date (run python bench/report.py --readme): {changed}"
    assert fresh == text


def test_update_rewrites_only_the_blocks(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("hand-written\n<!-- report: transcription_dynamics -->\nold figures\n<!-- /report -->\nmore\n")
    report.main(["--readme", str(readme)])
    text = readme.read_text()
    assert text.startswith("hand-written\n<!-- report: transcription_dynamics -->\n**Transcription dynamics**")
    assert text.endswith("<!-- /report -->\nmore\n") and "old figures" not in text
    readme.write_text("<!-- report: nonsense -->\nx\n<!-- /report -->\n")
    with pytest.raises(SystemExit, match="nonsense"):
        report.main(["--readme", str(readme)])

"""One table of host settings: the dataclass, the TOML keys, the flags and docs/host.md all come from it."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bridge.cli import add_run_arguments
from bridge.config import SETTINGS, Settings, build_settings, flag_values, read_file, settings_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "host.md"
BEGIN, END = "<!-- settings table: generated from bridge.config.SETTINGS -->", "<!-- end settings table -->"


def test_docs_settings_table_is_current():
    text = DOCS.read_text(encoding="utf-8")
    assert BEGIN in text and END in text
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == settings_markdown(), (
        "docs/host.md's settings table is stale: regenerate it with "
        "python -c 'from bridge.config import settings_markdown; print(settings_markdown())'")


def test_dataclass_flags_and_toml_keys_all_come_from_the_table():
    assert [f.name for f in dataclasses.fields(Settings)] == [st.name for st in SETTINGS]
    defaults = Settings()
    assert all(getattr(defaults, st.name) == st.default for st in SETTINGS)
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    flags = {o for a in parser._actions for o in a.option_strings}
    assert {st.flag for st in SETTINGS if st.flag} <= flags
    assert all(getattr(parser.parse_args([]), st.name) is None for st in SETTINGS if st.flag)


def test_every_toml_key_and_flag_reaches_its_field(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('tempo = 99.0\n[midi]\nclock_out = true\napi = "none"\n[osc]\nport = 9100\n', encoding="utf-8")
    assert read_file(conf) == {"tempo": 99.0, "clock_out": True, "api": "none", "osc_port": 9100}
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    args = parser.parse_args(["--tempo", "101", "--osc-allow", "10.0.0.1,10.0.0.2", "--set", "x.y=1",
                              "--virtual-in"])
    s = build_settings(conf, **flag_values(args))
    assert (s.tempo, s.clock_out, s.api, s.osc_port, s.virtual_in) == (101.0, True, "none", 9100, True)
    assert s.osc_allow == ["10.0.0.1", "10.0.0.2"] and s.generators == {"x": {"y": "1"}}

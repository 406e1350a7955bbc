"""Plugin manager: discovery, isolation of broken plugins, validation, hook docs."""
from __future__ import annotations

import inspect
from importlib import metadata


from bridge import hookspecs
from bridge.plugins import ENTRY_POINT_GROUP, builtin_plugins, collect_generators, make_plugin_manager, plugin_of
from fakeplugins import ARP, BAD, BROKEN, RAISER, SLOW, TYPO


def gens(*extra, **kw):
    pm = make_plugin_manager(extra=extra, entry_points=False, **kw)
    return pm, *collect_generators(pm)


def test_extra_file_plugins_are_collected():
    pm, found, errors = gens(ARP, RAISER, SLOW)
    assert sorted(found) == ["arp", "boom", "slow"]
    assert errors == []
    assert plugin_of(pm, "arp") == ARP


def test_env_adds_and_disables(monkeypatch):
    monkeypatch.setenv("CMT_BRIDGE_PLUGINS", f"{ARP},{SLOW}")
    monkeypatch.setenv("CMT_BRIDGE_DISABLE", "slow")
    _, found, errors = gens()
    assert sorted(found) == ["arp"]
    assert errors == []


def test_disable_by_argument_blocks_plugin():
    _, found, _ = gens(ARP, RAISER, disable=["raiser"])
    assert sorted(found) == ["arp"]


def test_bad_declarations_are_reported_and_the_rest_load():
    _, found, errors = gens(ARP, BAD)
    assert sorted(found) == ["arp", "fine"]
    text = "\n".join(errors)
    assert "nophrase does not implement next_phrase()" in text
    assert "'play' is reserved" in text
    assert "declares 'x' twice" in text
    assert "is not a Generator subclass" in text
    dup = [e for e in errors if "registered by both" in e]
    assert len(dup) == 1 and ARP in dup[0] and BAD in dup[0]
    assert all(BAD in e for e in errors)


def test_misspelled_hook_is_an_error_naming_the_plugin():
    pm, found, errors = gens(TYPO, ARP)
    assert sorted(found) == ["arp"]
    assert len(errors) == 1 and TYPO in errors[0] and "cmtbridge_register_generator" in errors[0]
    assert not pm.has_plugin(TYPO)


def test_broken_import_is_reported_not_fatal():
    _, found, errors = gens(BROKEN, ARP)
    assert sorted(found) == ["arp"]
    assert len(errors) == 1 and "unobtainium" in errors[0] and "cannot load" in errors[0]


def test_missing_file_and_module_are_reported():
    _, found, errors = gens("/no/such/plugin.py", "no_such_module_xyz", ARP)
    assert sorted(found) == ["arp"]
    assert len(errors) == 2
    assert "does not exist" in errors[0] and "no_such_module_xyz" in errors[1]


def test_missing_module_is_reported_not_fatal():
    pm = make_plugin_manager(extra=["plugins.nonexistent.plugin", ARP], entry_points=False)
    found, errors = collect_generators(pm)
    assert "arp" in found
    assert any("plugins.nonexistent.plugin" in e for e in errors)


def test_builtins_arrive_through_entry_points_like_third_party_plugins():
    eps = {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    names = ("midime", "transcription", "cmt", "tagger", "visuals", "trainer")
    assert {eps[n] for n in names} == set(builtin_plugins()) == \
        {"plugins.midime.plugin", "plugins.transcription.plugin", "plugins.cmt.plugin", "plugins.tagger.plugin",
         "plugins.visuals.plugin", "export.plugin"}
    pm = make_plugin_manager()
    assert all(pm.has_plugin(n) for n in names)
    assert not make_plugin_manager(entry_points=False).list_name_plugin()


def test_each_manager_is_fresh():
    a, fa, _ = gens(ARP)
    b, fb, _ = gens(SLOW)
    assert a is not b and list(fa) == ["arp"] and list(fb) == ["slow"]


def test_hook_raising_is_isolated(tmp_path):
    p = tmp_path / "raises.py"
    p.write_text("from bridge import hookimpl\n@hookimpl\ndef cmtbridge_register_generators():\n"
                 "    raise RuntimeError('nope')\n")
    _, found, errors = gens(str(p), ARP)
    assert list(found) == ["arp"]
    assert len(errors) == 1 and "nope" in errors[0] and str(p) in errors[0]


def test_every_hook_is_documented_and_prefixed():
    specs = [(n, f) for n, f in vars(hookspecs).items() if hasattr(f, "cmtbridge_spec")]
    assert {n for n, _ in specs} >= {"cmtbridge_register_generators", "cmtbridge_add_commands"}
    for name, func in specs:
        assert name.startswith("cmtbridge_")
        assert inspect.getdoc(func) and len(inspect.getdoc(func)) > 40

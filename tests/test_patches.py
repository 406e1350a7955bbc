"""The Max patches and Pd twins in max_patches/: generated from the schema, checked against it, well-formed.

The schema comes from ``cmt-bridge osc-schema`` (a subprocess, as a user runs it);
mutated copies of it prove the checker reports a renamed address, a narrowed
range, a changed type. Pd loads both twins headless without an error, and the
notes twin plays a /cmt/note sent by a real UDP socket.
"""
from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from peers import free_udp_port
from pythonosc.osc_message_builder import OscMessageBuilder

ROOT = Path(__file__).resolve().parents[1]
PATCHES = ROOT / "max_patches"
sys.path.insert(0, str(PATCHES))

import make_patches  # noqa: E402
import patchcheck  # noqa: E402

PD = shutil.which("pd")
needs_pd = pytest.mark.skipif(PD is None, reason="Pure Data not installed (Debian package puredata-core)")




def patch_files() -> list[Path]:
    return [PATCHES / name for name in make_patches.FILES]


def problems(schema: dict, paths=None) -> list[str]:
    return [p for path in paths or patch_files() for p in patchcheck.check_file(path, schema)]


def test_committed_patches_are_what_the_script_makes_now():
    fresh = make_patches.render(make_patches.shipped_schema())
    assert sorted(fresh) == sorted(make_patches.FILES + make_patches.SHADERS)
    stale = [name for name, text in fresh.items() if (PATCHES / name).read_text() != text]
    assert not stale, f"regenerate: python max_patches/make_patches.py (stale: {stale})"


def test_every_patch_agrees_with_cmt_bridge_osc_schema(schema):
    assert problems(schema) == []


def test_the_control_patches_cover_every_inbound_address_of_the_shipped_generators(schema):
    wanted = {a["address"] for a in schema["in"] if a.get("generator") or a["address"] in
              ("/cmt/play", "/cmt/stop", "/cmt/panic", "/cmt/tempo", "/cmt/status", "/cmt/learn")}
    max_text = (PATCHES / "cmt-bridge-control.maxpat").read_text()
    pd_text = (PATCHES / "cmt-bridge-control.pd").read_text()
    for address in wanted:
        assert address in max_text, address
        assert f"oscformat {' '.join(address.strip('/').split('/'))}" in pd_text or \
            f"oscformat -f i {' '.join(address.strip('/').split('/'))}" in pd_text, address


def _edit(schema: dict, table: str, address: str, change) -> dict:
    mutated = copy.deepcopy(schema)
    entry = next(a for a in mutated[table] if a["address"] == address)
    change(entry)
    return mutated


@pytest.mark.parametrize("table, address, change, expect", [
    ("in", "/cmt/midime/temperature", lambda a: a.update(address="/cmt/midime/heat"),
     "sends /cmt/midime/temperature, which is not in the schema"),
    ("in", "/cmt/tempo", lambda a: a.update(address="/cmt/bpm"), "sends /cmt/tempo, which is not in the schema"),
    ("in", "/cmt/midime/temperature", lambda a: a["args"][0].update(max=1.0), "above the schema's max 1.0"),
    ("in", "/cmt/midime/channel", lambda a: a["args"][0].update(min=2), "below the schema's min 2"),
    ("in", "/cmt/midime/variations", lambda a: a["args"][0].update(type="str"), "must be a string"),
    ("in", "/cmt/play", lambda a: a["args"][0].update(choices=["cmt"]), "not among the schema's choices"),
    ("out", "/cmt/note", lambda a: a.update(address="/cmt/notes"), "routes on /cmt/note, which the bridge never"),
    ("out", "/cmt/error", lambda a: a.update(address="/cmt/err"), "routes on /cmt/error"),
])
def test_a_schema_change_without_new_patches_is_reported(schema, table, address, change, expect):
    found = problems(_edit(schema, table, address, change))
    assert any(expect in p for p in found), found
    # both families are checked: the Max patch and its Pd twin each report it
    assert {p.split(" ")[0].split(":")[0].rsplit(".", 1)[1] for p in found if expect in p} == {"maxpat", "pd"}


def test_a_new_generator_needs_regenerated_patches(schema):
    mutated = copy.deepcopy(schema)
    for a in mutated["in"]:
        if a["address"] == "/cmt/midime/seed":
            a["args"][0]["type"] = "float"      # ints still fit a float...
    assert problems(mutated) == []              # ...so no complaint: the checker is not trigger-happy
    assert problems({**schema, "in": [a for a in schema["in"] if a["address"] != "/cmt/midime/seed"]})


# -- Max structure ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cmt-bridge-control.maxpat", "cmt-bridge-notes.maxpat", "cmt-bridge-visuals.maxpat"])
def test_max_patch_is_a_well_formed_patcher(name):
    patcher = json.loads((PATCHES / name).read_text())["patcher"]
    assert patcher["fileversion"] == 1 and patcher["appversion"]["major"] >= 8
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    assert len(boxes) == len(patcher["boxes"])
    for b in boxes.values():
        assert len(b["patching_rect"]) == 4 and b["maxclass"]
        assert b["numoutlets"] == len(b.get("outlettype", [])) or b["numoutlets"] == 0
    for line in patcher["lines"]:
        (src, o), (dst, i) = line["patchline"]["source"], line["patchline"]["destination"]
        assert 0 <= o < boxes[src]["numoutlets"] and 0 <= i < boxes[dst]["numinlets"], line
    texts = [b.get("text", "") for b in boxes.values()]
    if "control" in name:
        assert "udpsend 127.0.0.1 9000" in texts and "udpreceive 9001" in texts
        assert any(b["maxclass"] == "umenu" for b in boxes.values())
        assert sum(b["maxclass"] == "comment" for b in boxes.values()) > 20      # labelled
    elif "visuals" in name:
        assert "udpreceive 9001" in texts and "jit.gl.slab cmt-visuals @file cmt-visuals.jxs @dim 512 512" in texts
        assert {f"prepend param {u}" for u in ("shape_a", "shape_b", "phase", "pulse", "zoom", "rotation", "warp",
                                                "pal_a", "pal_b", "pal_c", "pal_d")} <= set(texts)
        assert (PATCHES / "cmt-visuals.jxs").read_text().count("<param name=") == 12   # 11 uniforms + texdim0
    else:
        assert {"makenote 100 500", "noteout", "mtof", "saw~", "dac~"} <= set(texts)
        assert any(t.startswith("adsr~") for t in texts)


def _corrupt(tmp_path: Path, change) -> Path:
    data = json.loads((PATCHES / "cmt-bridge-control.maxpat").read_text())
    change(data["patcher"])
    path = tmp_path / "broken.maxpat"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change, expect", [
    (lambda p: p["boxes"][5]["box"].update(id=p["boxes"][4]["box"]["id"]), "duplicate box id"),
    (lambda p: p["lines"][0]["patchline"].update(source=[p["lines"][0]["patchline"]["source"][0], 7]),
     "outlet 7"),
    (lambda p: p["lines"][0]["patchline"].update(destination=["obj-9999", 0]), "missing box"),
    (lambda p: next(b["box"] for b in p["boxes"] if b["box"].get("text", "").startswith("makenote") or
                    b["box"].get("text", "").startswith("udpsend")).update(numinlets=3), "the object has 1/0"),
    (lambda p: p["boxes"].append({"box": {"id": "obj-x", "maxclass": "newobj", "text": "mystery~",
                                          "numinlets": 1, "numoutlets": 0, "patching_rect": [0, 0, 9, 9]}}),
     "unknown object"),
])
def test_structural_damage_is_reported(schema, tmp_path, change, expect):
    found = patchcheck.check_file(_corrupt(tmp_path, change), schema)
    assert any(expect in p for p in found), found


def test_a_bad_pd_connection_is_reported(schema, tmp_path):
    text = (PATCHES / "cmt-bridge-control.pd").read_text()
    broken = tmp_path / "broken.pd"
    broken.write_text(text + "#X connect 0 0 1 5;\n#X connect 2 0 9999 0;\n")
    found = patchcheck.check_file(broken, schema)
    assert any("has 0 outlet(s)" in p for p in found) and any("missing box" in p for p in found), found


# -- Pd, headless ---------------------------------------------------------------------------------------
def run_pd(*args: str, timeout: float = 20.0) -> str:
    done = subprocess.run([PD, "-nogui", "-noaudio", "-nomidi", "-stderr", *args, "-send", "pd quit"],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


@needs_pd
@pytest.mark.parametrize("name, hook", [("cmt-bridge-control.pd", "cmt-listen"),
                                        ("cmt-bridge-notes.pd", "cmt-notes-listen"),
                                        ("cmt-bridge-visuals.pd", "cmt-visuals-listen")])
def test_pd_loads_the_twin_without_errors(name, hook):
    out = run_pd("-send", f"{hook} 0", "-open", str(PATCHES / name))
    for bad in ("couldn't create", "connection failed", "error", "bad arguments"):
        assert bad not in out, out


@needs_pd
def test_pd_notice_a_broken_twin():
    """The check above can fail: a patch with an unknown object and a bad cord is reported by Pd."""
    out = run_pd("-open", str(ROOT / "tests" / "pd_patches" / "broken.pd"))
    assert "couldn't create" in out and "connection failed" in out, out


@needs_pd
def test_pd_notes_twin_plays_a_note_sent_over_udp():
    port = free_udp_port()
    proc = subprocess.Popen([PD, "-nogui", "-noaudio", "-nomidi", "-stderr", "-send", f"cmt-notes-listen {port}",
                             "-open", str(PATCHES / "cmt-bridge-notes.pd")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        b = OscMessageBuilder("/cmt/note")
        for arg in ("midime", 64, 90, 250, 3):
            b.add_arg(arg)
        data = b.build().dgram
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(10):                    # Pd needs a moment to start listening
                time.sleep(0.5)
                s.sendto(data, ("127.0.0.1", port))
        time.sleep(1.0)
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    assert "cmt-note: midime 64 90 250 3" in err, err

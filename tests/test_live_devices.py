"""The Max for Live devices in max_patches/live/: container, strip layout, parameters, ports, schema drift.

No Live or Max here: these tests read the .amxd files as Live would find them
(chunks, then the patcher JSON) and check what Live and Max rely on. The JS
inside the devices is tested under node (tests/live_js, run by the last test).
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import struct
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATCHES = ROOT / "max_patches"
LIVE = PATCHES / "live"
sys.path.insert(0, str(PATCHES))

import amxd  # noqa: E402
import live_layout  # noqa: E402
import make_patches  # noqa: E402
import maxpat  # noqa: E402
import patchcheck  # noqa: E402

NODE = shutil.which("node")




def devices() -> list[Path]:
    return sorted(LIVE.glob("*.amxd"))


def patcher_of(path: Path) -> dict:
    return amxd.unpack(path.read_bytes())[1]["patcher"]


def graph(patcher: dict) -> tuple[dict, dict]:
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    out = defaultdict(list)                      # src -> [(outlet, dst, inlet)]
    for line in patcher["lines"]:
        (src, o), (dst, i) = line["patchline"]["source"], line["patchline"]["destination"]
        out[src].append((o, dst, i))
    return boxes, out


def reaches(boxes: dict, out: dict, start: str, want) -> bool:
    """Whether a cord path (following [s x] -> [r x]) leads from ``start`` to a box for which ``want`` holds."""
    receivers = defaultdict(list)
    for i, b in boxes.items():
        w = b.get("text", "").split()
        if b["maxclass"] == "newobj" and w[:1] == ["r"]:
            receivers[w[1]].append(i)
    seen, todo = {start}, [start]
    while todo:
        cur = todo.pop()
        if cur != start and want(boxes[cur]):
            return True
        nxt = [d for _, d, _ in out[cur]]
        w = boxes[cur].get("text", "").split()
        if boxes[cur]["maxclass"] == "newobj" and w[:1] == ["s"]:
            nxt += receivers[w[1]]
        for d in nxt:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return False


def valueof(box: dict) -> dict:
    return box["saved_attribute_attributes"]["valueof"]


# -- drift: the committed devices are what the schema makes ------------------------------------------
def test_committed_devices_are_what_the_script_makes_now():
    fresh = make_patches.render_devices(make_patches.shipped_schema())
    assert sorted(fresh) == [p.name for p in devices()], "regenerate: python max_patches/make_patches.py"
    stale = [name for name, data in fresh.items() if (LIVE / name).read_bytes() != data]
    assert not stale, f"regenerate: python max_patches/make_patches.py (stale: {stale})"


def test_one_device_per_generator_in_the_schema(schema):
    assert [p.name for p in devices()] == [live_layout.device_file(g) for g in sorted(schema["generators"])]


def test_write_adds_the_script_and_drops_a_device_whose_generator_left(schema, tmp_path):
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "cmt-bridge-gone.amxd").write_bytes(b"old")
    written = make_patches.write(schema, tmp_path)
    names = sorted(p.name for p in (tmp_path / "live").iterdir())
    assert names == sorted([live_layout.device_file(g) for g in schema["generators"]] + ["cmt_clips.js"])
    assert (tmp_path / "live" / "cmt_clips.js").read_text() == (LIVE / "cmt_clips.js").read_text()
    assert all(p.exists() for p in written)


# -- the container -------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_container_is_ampf_midi_effect_meta_then_nul_terminated_patcher_json(path):
    data = path.read_bytes()
    assert data[:12] == b"ampf" + struct.pack("<I", 4) + b"mmmm"
    assert data[12:24] == b"meta" + struct.pack("<I", 4) + struct.pack("<I", 1)
    assert data[24:28] == b"ptch"
    size = struct.unpack("<I", data[28:32])[0]
    assert 32 + size == len(data), "the ptch size covers exactly the rest of the file"
    body = data[32:]
    assert body.endswith(b"\n\0") and body.count(b"\0") == 1
    patcher = json.loads(body[:-1].decode("utf-8"))["patcher"]
    assert patcher["project"]["amxdtype"] == int.from_bytes(b"mmmm", "big") == 1835887981
    assert [t for t, _ in amxd.chunks(data)] == [b"ampf", b"meta", b"ptch"]


def test_the_reader_refuses_broken_containers(tmp_path):
    good = (devices()[0]).read_bytes()
    with pytest.raises(ValueError, match="says"):
        amxd.unpack(good[:-10])                                   # truncated
    with pytest.raises(ValueError, match="not a Max for Live device"):
        amxd.unpack(amxd.chunk(b"meta", b"1234"))
    with pytest.raises(ValueError, match="frozen"):
        amxd.unpack(amxd.chunk(b"ampf", b"mmmm") + amxd.chunk(b"ptch", b"mx@c" + b"\0" * 12))
    with pytest.raises(ValueError, match="device type"):
        amxd.pack({"patcher": {}}, b"xxxx")


# -- presentation: the device strip -------------------------------------------------------------------
@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_device_opens_in_presentation_and_every_shown_box_lies_inside_the_strip(path):
    p = patcher_of(path)
    assert p["openinpresentation"] == 1
    width = p["devicewidth"]
    assert 0 < width <= 1200 and p["openrect"][3] <= live_layout.STRIP_HEIGHT == 169
    shown = [b["box"] for b in p["boxes"] if b["box"].get("presentation")]
    assert len(shown) > 10
    rects = []
    for b in shown:
        x, y, w, h = b["presentation_rect"]
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= 169, (b.get("varname"), b["presentation_rect"])
        rects.append((x, y, x + w, y + h, b["id"]))
    for i, a in enumerate(rects):                  # nothing is drawn on top of something else
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


# -- parameters ----------------------------------------------------------------------------------------
def live_params(p: dict) -> list[dict]:
    return [b["box"] for b in p["boxes"] if b["box"]["maxclass"].startswith("live.")
            and b["box"].get("parameter_enable")]


def controls_of(p: dict, address: str) -> list[dict]:
    """The shown controls wired (directly) into [prepend <address>]."""
    boxes, out = graph(p)
    pre = {i for i, b in boxes.items() if b.get("text") == f"prepend {address}"}
    pre |= {src for src, links in out.items() for _, dst, _ in links         # through an int conversion
            if dst in pre and boxes[src].get("text") == "t i"}
    return [boxes[src] for src, links in out.items() for _, dst, _ in links
            if dst in pre and boxes[src].get("presentation")]


def check_param(p: dict, gen: str, spec: dict) -> None:
    if spec["type"] == "str" and not spec.get("choices"):   # free text (a name): typed, never automated
        boxes, out = graph(p)
        edits = [i for i, b in boxes.items() if b["maxclass"] == "textedit" and b.get("presentation")
                 and reaches(boxes, out, i, lambda b: b.get("text") == f"prepend /cmt/{gen}/{spec['name']}")]
        assert len(edits) == 1, (gen, spec["name"], edits)
        return
    found = controls_of(p, f"/cmt/{gen}/{spec['name']}")
    assert len(found) == 1, (gen, spec["name"], found)
    box = found[0]
    v = valueof(box)
    assert box["parameter_enable"] == 1 and v["parameter_longname"] and v["parameter_shortname"]
    assert v["parameter_initial_enable"] == 1
    if spec.get("choices"):
        assert box["maxclass"] == "live.menu" and v["parameter_type"] == 2
        assert v["parameter_enum"] == spec["choices"]
        assert v["parameter_initial"] == [spec["choices"].index(spec["default"])]
    elif spec["type"] == "bool":
        assert box["maxclass"] == "live.text" and box["mode"] == 1 and v["parameter_type"] == 2
        assert v["parameter_initial"] == [int(spec["default"])]
    else:
        assert box["maxclass"] in ("live.dial", "live.numbox")
        wide = spec["type"] == "int" and not 0 <= spec["min"] <= spec["max"] <= 255   # Live's ints: 0..255
        assert v["parameter_type"] == (0 if spec["type"] == "float" or wide else 1)
        assert (v["parameter_mmin"], v["parameter_mmax"]) == (spec["min"], spec["max"])
        assert v["parameter_initial"] == [spec["default"]]
        if spec["unit"]:
            assert (v["parameter_unitstyle"], v["parameter_units"]) == (9, spec["unit"])
        else:
            assert v["parameter_unitstyle"] == (1 if spec["type"] == "float" else 0)


@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_every_schema_parameter_is_exactly_one_live_parameter_with_its_range_default_and_unit(schema, path):
    p = patcher_of(path)
    gen = path.stem.removeprefix("cmt-bridge-")
    for spec in schema["generators"][gen]["params"]:
        check_param(p, gen, spec)
    names = [valueof(b)["parameter_longname"] for b in live_params(p)]
    assert len(names) == len(set(names)), "parameter long names are unique in a device"
    assert set(p["parameters"]) - {"inherited_shortname"} == {b["id"] for b in live_params(p)}


@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_every_action_is_a_button_or_a_drop_target_reaching_udpsend(schema, path):
    p = patcher_of(path)
    boxes, out = graph(p)
    gen = path.stem.removeprefix("cmt-bridge-")
    udpsend = lambda b: b.get("text", "").startswith("udpsend ")   # noqa: E731
    for a in schema["generators"][gen]["actions"]:
        address = f"/cmt/{gen}/{a['name']}"
        sends = lambda b, address=address: b.get("text", "").split()[:2] in (  # noqa: E731
            [address], ["prepend", address]) or b.get("text", "") == address
        ui = [i for i, b in boxes.items() if b["maxclass"] in ("live.text", "live.drop")
              and reaches(boxes, out, i, sends)]
        assert ui, address
        for i in ui:
            assert reaches(boxes, out, i, udpsend)
            if boxes[i]["maxclass"] == "live.text":
                assert boxes[i]["mode"] == 0 and valueof(boxes[i])["parameter_initial_enable"] == 0


def test_any_generator_gets_a_device_even_without_params_or_with_string_params(schema):
    mutated = copy.deepcopy(schema)
    text = {"name": "labels", "type": "str", "osc_type": "s", "default": "", "min": None, "max": None,
            "unit": "", "doc": "comma-separated labels"}
    mutated["generators"]["tagger"] = {"name": "tagger", "description": "tags", "params": [text],
                                       "actions": [{"name": "tag", "doc": "tag a file", "args": [
                                           {**text, "name": "path", "doc": "an audio file"}]}]}
    mutated["generators"]["bare"] = {"name": "bare", "description": "", "params": [], "actions": []}
    for name in ("tagger", "bare"):
        data = amxd.pack(live_layout.max_device(mutated, name))
        p = amxd.unpack(data)[1]["patcher"]
        shown = [b["box"]["presentation_rect"] for b in p["boxes"] if b["box"].get("presentation")]
        assert all(r[1] + r[3] <= 169 and r[0] + r[2] <= p["devicewidth"] for r in shown)
    edits = controls_of(p := live_layout.max_device(mutated, "tagger")["patcher"], "/cmt/tagger/labels")
    assert edits == [] and any(b["box"]["maxclass"] == "textedit" for b in p["boxes"])
    boxes, out = graph(p)
    edit = next(i for i, b in boxes.items() if b["maxclass"] == "textedit" and b["varname"] == "edit-labels")
    assert reaches(boxes, out, edit, lambda b: b.get("text") == "prepend /cmt/tagger/labels")
    drop = next(i for i, b in boxes.items() if b["maxclass"] == "live.drop")
    assert reaches(boxes, out, drop, lambda b: b.get("text") == "prepend /cmt/tagger/tag")


def test_many_parameters_wrap_into_more_columns_not_below_the_strip(schema):
    mutated = copy.deepcopy(schema)
    extra = [{"name": f"knob_{i}", "type": "float", "osc_type": "f", "default": 0.5, "min": 0.0, "max": 1.0,
              "unit": "", "doc": ""} for i in range(30)]
    mutated["generators"]["midime"]["params"] += extra
    p = live_layout.max_device(mutated, "midime")["patcher"]
    for spec in extra:
        check_param(p, "midime", spec)
    assert max(b["box"]["presentation_rect"][1] + b["box"]["presentation_rect"][3]
               for b in p["boxes"] if b["box"].get("presentation")) <= 169


# -- ports, transport, the bridge's replies --------------------------------------------------------------
@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_udp_ports_match_the_hosts_defaults(schema, path):
    host, port = schema["listen"].split(":")
    _, reply = schema["reply"].split(":")
    texts = [b["box"].get("text", "") for b in patcher_of(path)["boxes"]]
    sends = [t for t in texts if t.startswith("udpsend")]
    receives = [t for t in texts if t.startswith("udpreceive")]
    assert sends == [f"udpsend {host} {port}"] and receives == [f"udpreceive {reply}"]


@pytest.mark.parametrize("path", devices(), ids=lambda p: p.name)
def test_lives_transport_and_the_replies_feed_the_script_that_talks_to_the_bridge(schema, path):
    p = patcher_of(path)
    boxes, out = graph(p)
    gen = path.stem.removeprefix("cmt-bridge-")
    actions = {a["name"] for a in schema["generators"][gen]["actions"]}
    js = [i for i, b in boxes.items() if b.get("text", "").startswith("js ")]
    assert len(js) == 1
    assert boxes[js[0]]["text"].split() == ["js", "cmt_clips.js", gen, "sample" if "sample" in actions else "-",
                                            "learn_notes" if "learn_notes" in actions else "learn" if "learn" in actions else "-"]
    transport = next(i for i, b in boxes.items() if b.get("text") == "transport")
    is_js = lambda b: b.get("text", "").startswith("js ")     # noqa: E731
    assert reaches(boxes, out, transport, is_js)
    assert reaches(boxes, out, js[0], lambda b: b.get("text", "").startswith("udpsend"))
    assert {o for o, _, _ in out[transport]} == {0, 1, 4, 5, 6, 7}  # bars, beats, tempo, timesig, state, ticks
    route = next(b for b in boxes.values() if b.get("text", "").startswith("route /cmt/"))
    assert route["text"].split()[1:] == ["/cmt/note", "/cmt/beat", "/cmt/error", "/cmt/progress", "/cmt/info"]
    # the script's declared inlets/outlets are what the device's box says
    script = (LIVE / "cmt_clips.js").read_text()
    declared = (int(re.search(r"^inlets = (\d+);", script, re.M)[1]), int(re.search(r"^outlets = (\d+);", script,
                                                                                     re.M)[1]))
    assert declared == maxpat.JS_SCRIPTS["cmt_clips.js"] == (boxes[js[0]]["numinlets"], boxes[js[0]]["numoutlets"])
    # every message the patch sends to the script has a function of that name in it
    selectors = {b["text"].split()[1] for b in boxes.values() if b.get("text", "").startswith("prepend ")
                 and reaches(boxes, out, b["id"], is_js) and not b["text"].split()[1].startswith("/")}
    selectors |= {b["text"] for b in boxes.values() if b["maxclass"] == "message" and b["text"] in
                  ("generate", "learnclip")}
    for s in selectors - {"set"}:
        assert re.search(rf"^function {s}\(", script, re.M), s
    # Live's tempo is clamped by the script to the host's /cmt/tempo range
    tempo = next(a for a in schema["in"] if a["address"] == "/cmt/tempo")["args"][0]
    assert f"var TEMPO_MIN = {tempo['min']:g};" in script and f"var TEMPO_MAX = {tempo['max']:g};" in script


# -- the schema checker covers the devices ------------------------------------------------------------
def test_patchcheck_finds_no_problem_in_the_devices(schema):
    assert [p for path in devices() for p in patchcheck.check_file(path, schema)] == []


@pytest.mark.parametrize("address, change, expect", [
    ("/cmt/midime/temperature", lambda a: a["args"][0].update(max=1.0), "above the schema's max 1.0"),
    ("/cmt/midime/channel", lambda a: a["args"][0].update(min=2), "below the schema's min 2"),
    ("/cmt/midime/sample", lambda a: a.update(address="/cmt/midime/draw"), "sends /cmt/midime/sample, which is not"),
    ("/cmt/cmt/guide", lambda a: a["args"][0].update(type="str"), "must be a string"),
    ("/cmt/midime/seed", lambda a: a["args"][0].update(max=1000), "above the schema's max 1000"),
])
def test_a_schema_change_without_new_devices_is_reported(schema, address, change, expect):
    mutated = copy.deepcopy(schema)
    change(next(a for a in mutated["in"] if a["address"] == address))
    found = [p for path in devices() for p in patchcheck.check_file(path, mutated)]
    assert any(expect in p and ".amxd" in p for p in found), found


# -- the JS, under node ------------------------------------------------------------------------------------
@pytest.mark.skipif(NODE is None, reason="node not installed (Debian package nodejs)")
def test_cmt_clips_js_against_a_stub_of_lives_object_model():
    done = subprocess.run([NODE, str(ROOT / "tests" / "live_js" / "test_cmt_clips.js")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^(\d+)/\1 passed$", done.stdout, re.M), done.stdout

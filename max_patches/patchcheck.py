"""Check Max (.maxpat) and Pd (.pd) patches against the OSC schema and for structural soundness.

    python max_patches/patchcheck.py                      # the committed patches and devices vs the built-in schema
    cmt-bridge osc-schema > s.json && python max_patches/patchcheck.py --schema s.json a.maxpat b.pd

What is checked, for every message a patch can send to the bridge (anything that
reaches ``[udpsend]`` / ``[netsend]``, following ``[s name]`` -> ``[r name]``):
the address exists in the schema's ``in`` table; the number of arguments fits;
each argument's type (from the source: number box, slider, menu, message
literal, file dialog, ``oscformat -f``) is one the host accepts; a source's
range (slider/number-box min and max, literals) lies inside the schema's range
or choices. Every ``/cmt/...`` address the patch routes on (``[route]`` after
``[udpreceive]`` / ``[oscparse]``) must be in the schema's ``out`` table.
Structure: unique Max ids; every cord joins existing boxes at existing
inlets/outlets; inlet/outlet counts match the object (tables in maxpat/pdpatch).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import amxd  # noqa: E402
import maxpat  # noqa: E402
import pdpatch  # noqa: E402


@dataclass(frozen=True)
class Value:
    """What a source feeds into a message: a type, and a range or the literal/choices it can take."""

    type: str                       # int | float | str | any
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    literal: object = None
    has_literal: bool = False


# ------------------------------------------------------------------------------------ schema rules
def check_message(schema: dict, where: str, address: str, values: list[Value] | None) -> list[str]:
    """Problems with one outgoing message (``values`` None: the arguments are not known statically)."""
    entry = next((a for a in schema["in"] if a["address"] == address), None)
    if entry is None:
        return [f"{where}: sends {address}, which is not in the schema (cmt-bridge osc-schema)"]
    if values is None:
        return []
    args = entry["args"]
    required = sum(not a["optional"] for a in args)
    problems = []
    if not required <= len(values) <= len(args):
        problems.append(f"{where}: {address} takes {required}..{len(args)} argument(s), the patch sends "
                        f"{len(values)}")
    for spec, v in zip(args, values):
        problems += [f"{where}: {address} {spec['name']}: {p}" for p in _check_value(spec, v)]
    return problems


def _check_value(spec: dict, v: Value) -> list[str]:
    t = spec["type"]
    if v.type == "any":
        return []
    if t == "str":
        if v.type != "str":
            return [f"must be a string, the patch sends {v.type}"]
        chosen = list(v.choices) or ([v.literal] if v.has_literal else [])
        if spec.get("choices"):
            bad = [c for c in chosen if c not in spec["choices"]]
            if not chosen:
                return [f"must be one of {spec['choices']}, the patch sends any string"]
            if bad:
                return [f"{bad} not among the schema's choices {spec['choices']}"]
        return []
    if v.type == "str":
        return [f"must be {t}, the patch sends a string"]
    if t in ("int", "bool") and v.type == "float" and not (v.has_literal and float(v.literal).is_integer()):
        return [f"must be an int, the patch sends floats"]
    lo, hi = (v.literal, v.literal) if v.has_literal else (v.lo, v.hi)
    problems = []
    if spec["min"] is not None and (lo is None or lo < spec["min"]):
        problems.append(f"the patch can send {lo if lo is not None else '-inf'}, below the schema's min "
                        f"{spec['min']}")
    if spec["max"] is not None and (hi is None or hi > spec["max"]):
        problems.append(f"the patch can send {hi if hi is not None else 'inf'}, above the schema's max "
                        f"{spec['max']}")
    return problems


def check_routes(schema: dict, where: str, addresses: list[str]) -> list[str]:
    known = {a["address"] for a in schema["out"]}
    return [f"{where}: routes on {a}, which the bridge never sends (not in the schema's out table)"
            for a in addresses if a not in known]


def literal(word: str) -> Value:
    if word == '""':
        return Value("str", literal="", has_literal=True)
    try:
        return Value("int", literal=int(word), has_literal=True)
    except ValueError:
        pass
    try:
        return Value("float", literal=float(word), has_literal=True)
    except ValueError:
        return Value("str", literal=word, has_literal=True)


# --------------------------------------------------------------------------------------------- Max
def read_patcher(path: Path) -> dict:
    """The top-level patcher dict of a .maxpat, or of an .amxd device (ValueError/KeyError if neither)."""
    if path.suffix == ".amxd":
        return amxd.unpack(path.read_bytes())[1]["patcher"]
    return json.loads(path.read_text())["patcher"]


def check_maxpat(path: Path, schema: dict) -> list[str]:
    where = path.name
    try:
        patcher = read_patcher(path)
        boxes_list = [b["box"] for b in patcher["boxes"]]
    except (KeyError, ValueError) as e:
        return [f"{where}: not a Max patcher ({e})"]
    problems: list[str] = []
    boxes: dict[str, dict] = {}
    for b in boxes_list:
        if b["id"] in boxes:
            problems.append(f"{where}: duplicate box id {b['id']}")
        boxes[b["id"]] = b
        try:
            io = maxpat.io_of(b["maxclass"], b.get("text", ""))
        except KeyError:
            problems.append(f"{where}: {b['id']} {b['maxclass']} {b.get('text', '')!r}: unknown object")
            continue
        if (b["numinlets"], b["numoutlets"]) != io[:2]:
            problems.append(f"{where}: {b['id']} {b.get('text', b['maxclass'])!r} has {b['numinlets']} inlets/"
                            f"{b['numoutlets']} outlets, the object has {io[0]}/{io[1]}")
        if b["numoutlets"] and b.get("outlettype") is not None and len(b["outlettype"]) != b["numoutlets"]:
            problems.append(f"{where}: {b['id']} outlettype does not match numoutlets")
    into: dict[str, list[tuple[str, int, int]]] = defaultdict(list)     # dst -> [(src, outlet, inlet)]
    out_of: dict[str, list[str]] = defaultdict(list)
    for line in patcher["lines"]:
        (src, outlet), (dst, inlet) = line["patchline"]["source"], line["patchline"]["destination"]
        if src not in boxes or dst not in boxes:
            problems.append(f"{where}: patch cord {src}->{dst} joins a missing box")
            continue
        if not 0 <= outlet < boxes[src]["numoutlets"]:
            problems.append(f"{where}: patch cord from {src} outlet {outlet}: it has {boxes[src]['numoutlets']}")
        if not 0 <= inlet < boxes[dst]["numinlets"]:
            problems.append(f"{where}: patch cord to {dst} inlet {inlet}: it has {boxes[dst]['numinlets']}")
        into[dst].append((src, outlet, inlet))
        out_of[src].append(dst)
    _link_sends(boxes, out_of, lambda b: b.get("text", "").split() if b["maxclass"] == "newobj" else [])

    senders = _reaching(out_of, [i for i, b in boxes.items() if b.get("text", "").startswith("udpsend")])
    for box_id in sorted(senders):
        b = boxes[box_id]
        text = b.get("text", "")
        if b["maxclass"] == "newobj" and text.startswith("prepend /"):
            address = text.split()[1]
            sources = [(s, o) for s, o, inlet in into[box_id] if inlet == 0]
            for s, o in sources:
                values = _max_source(boxes[s], o)
                if boxes[s].get("text") in ("t i", "t f"):         # a conversion: the source before it
                    before = [(s2, o2) for s2, o2, inlet in into[s] if inlet == 0]
                    values = [_convert(v, boxes[s]["text"][-1]) for s2, o2 in before[:1]
                              for v in _max_source(boxes[s2], o2) or []] or values
                problems += check_message(schema, f"{where} {box_id}", address, values)
            if not sources:
                problems.append(f"{where}: {box_id} [{text}] has nothing connected")
        elif b["maxclass"] == "message" and text.startswith("/"):
            words = text.split()
            problems += check_message(schema, f"{where} {box_id}", words[0], [literal(w) for w in words[1:]])
    receivers = _downstream(out_of, [i for i, b in boxes.items()
                                     if b.get("text", "").split()[:1] in (["udpreceive"], ["r"])])
    routed = [w for i in receivers if boxes[i].get("text", "").startswith("route ")
              for w in boxes[i]["text"].split()[1:] if w.startswith("/cmt")]
    problems += check_routes(schema, where, routed)
    return problems


def _max_source(b: dict, outlet: int = 0) -> list[Value] | None:
    cls = b["maxclass"]
    if cls.startswith("live.") and b.get("parameter_enable"):
        return _live_source(b, outlet)
    if cls in ("number", "flonum"):
        return [Value("int" if cls == "number" else "float", b.get("minimum"), b.get("maximum"))]
    if cls == "slider":
        lo, size = b.get("min", 0), b.get("size", 128)
        floats = bool(b.get("floatoutput"))
        return [Value("float" if floats else "int", lo, lo + size if floats else lo + size - 1)]
    if cls == "toggle":
        return [Value("int", 0, 1)]
    if cls == "umenu":
        return [Value("str", choices=tuple(i for i in b.get("items", []) if i != ","))]
    if cls == "message":
        return [literal(w) for w in b.get("text", "").split()]
    if cls == "newobj" and b["text"].split()[0] in ("conformpath", "tosymbol"):
        return [Value("str")]
    return [Value("any")]


def _convert(v: Value, to: str) -> Value:
    """What [t i] / [t f] make of a value: ints truncate a float range (lo and hi stay inside it)."""
    if v.type not in ("int", "float"):
        return v
    if to == "i":
        lo = None if v.lo is None else int(v.lo)
        hi = None if v.hi is None else int(v.hi)
        return Value("int", lo, hi, v.choices, int(v.literal) if v.has_literal else None, v.has_literal)
    return Value("float", v.lo, v.hi, v.choices, v.literal, v.has_literal)


def _live_source(b: dict, outlet: int) -> list[Value]:
    """What a Max for Live parameter object sends: its type and range from its saved parameter attributes."""
    v = b.get("saved_attribute_attributes", {}).get("valueof", {})
    kind = v.get("parameter_type", 0)                 # 0 float, 1 int, 2 enum
    if kind == 2:
        enum = tuple(v.get("parameter_enum", ()))
        if b["maxclass"] == "live.menu" and outlet == 1:
            return [Value("str", choices=enum)]
        return [Value("int", 0, v.get("parameter_mmax", max(len(enum) - 1, 1)))]
    lo, hi = v.get("parameter_mmin", 0.0), v.get("parameter_mmax", 127.0)   # Max's defaults
    return [Value("float" if kind == 0 else "int", lo, hi)]


# ---------------------------------------------------------------------------------------------- Pd
def check_pd(path: Path, schema: dict) -> list[str]:
    where = path.name
    try:
        patch = pdpatch.parse(path)
    except (ValueError, IndexError) as e:
        return [f"{where}: cannot parse ({e})"]
    problems: list[str] = []
    n = len(patch.boxes)
    into: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    out_of: dict[int, list[int]] = defaultdict(list)
    for src, outlet, dst, inlet in patch.lines:
        if not (0 <= src < n and 0 <= dst < n):
            problems.append(f"{where}: connect {src} {outlet} {dst} {inlet} joins a missing box")
            continue
        try:
            (_, outs), (ins, _) = (pdpatch.io_of(patch.boxes[src].kind, patch.boxes[src].words),
                                   pdpatch.io_of(patch.boxes[dst].kind, patch.boxes[dst].words))
        except KeyError as e:
            problems.append(f"{where}: unknown object {e}")
            continue
        if outlet >= outs or inlet >= ins:
            problems.append(f"{where}: connect {src} {outlet} {dst} {inlet}: "
                            f"[{' '.join(patch.boxes[src].words)}] has {outs} outlet(s), "
                            f"[{' '.join(patch.boxes[dst].words)}] {ins} inlet(s)")
        into[dst].append((src, outlet, inlet))
        out_of[src].append(dst)
    boxes = {b.index: b for b in patch.boxes}
    _link_sends(boxes, out_of, lambda b: b.words if b.kind == "obj" else [])
    senders = _reaching(out_of, [b.index for b in patch.boxes if b.kind == "obj" and b.head == "netsend"])
    for i in sorted(senders):
        b = boxes[i]
        if b.kind != "obj" or b.head != "oscformat":
            continue
        words, fmt = b.words[1:], None
        if words[:1] == ["-f"]:
            fmt, words = words[1], words[2:]
        address = "/" + "/".join(words)
        sources = [s for s, _, inlet in into[i] if inlet == 0]
        if not sources:
            problems.append(f"{where}: [{' '.join(b.words)}] has nothing connected")
        for s in sources:
            values = _pd_source(boxes[s])
            if fmt is not None and values is not None:
                values = _apply_format(fmt, values)
            problems += check_message(schema, f"{where} #{i}", address, values)
    receivers = _downstream(out_of, [b.index for b in patch.boxes if b.kind == "obj" and b.head == "oscparse"]
                            + [b.index for b in patch.boxes if b.kind == "obj" and b.head == "r"])
    def nested(prefix: str, j: int) -> list[str]:
        """Addresses a [route] under ``prefix`` matches; a word whose outlet feeds another [route] (as
        [route visuals] -> [route params pulse]) is a level of the address, not an address."""
        out = []
        for k, w in enumerate(boxes[j].words[1:]):
            below = [n for n in out_of[j] if boxes[n].head == "route" and any(s == j and o == k for s, o, _ in into[n])]
            out += [a for n in below for a in nested(f"{prefix}/{w}", n)] if below else [f"{prefix}/{w}"]
        return out

    routed = []
    for i in receivers:
        b = boxes[i]
        if b.kind == "obj" and b.words == ["route", "cmt"]:
            for j in out_of[i]:
                if boxes[j].head == "route" and any(s == i and o == 0 for s, o, _ in into[j]):
                    routed += nested("/cmt", j)
    problems += check_routes(schema, where, routed)
    return problems


def _pd_source(b: pdpatch.PdBox) -> list[Value] | None:
    if b.kind == "msg":
        words = [w for w in b.words if w != ","]
        if words[:1] == ["bang"]:
            return []
        if words[:1] == ["symbol"]:
            return [Value("str", literal=words[1] if len(words) > 1 else "", has_literal=True)]
        if words[:1] == ["list"]:
            words = words[1:]
        return [literal(w) for w in words]
    if b.head in ("hsl", "nbx", "vsl"):
        return [Value("float", float(b.words[3]), float(b.words[4]))]
    if b.head in ("bng",):
        return []
    if b.head == "tgl":
        return [Value("float", 0, 1)]
    if b.head == "openpanel":
        return [Value("str")]
    return None          # [list], [r ...]: a script's message, known only at run time


def _apply_format(fmt: str, values: list[Value]) -> list[Value]:
    """oscformat -f: the format decides each argument's OSC type (floats become ints for 'i')."""
    out = []
    for c, v in zip(fmt, values):
        if c == "i" and v.type == "float":
            v = Value("int", v.lo, v.hi, v.choices, int(v.literal) if v.has_literal else None, v.has_literal)
        out.append(v)
    return out + values[len(fmt):]


# ---------------------------------------------------------------------------------------- graph help
def _link_sends(boxes: dict, out_of: dict, words_of) -> None:
    """Treat [s name] -> [r name] (and [send]/[receive]) as cords."""
    receivers = defaultdict(list)
    for i, b in boxes.items():
        w = words_of(b)
        if len(w) >= 2 and w[0] in ("r", "receive"):
            receivers[w[1]].append(i)
    for i, b in boxes.items():
        w = words_of(b)
        if len(w) >= 2 and w[0] in ("s", "send"):
            out_of[i].extend(receivers[w[1]])


def _reaching(out_of: dict, targets: list) -> set:
    back = defaultdict(list)
    for src, dsts in out_of.items():
        for d in dsts:
            back[d].append(src)
    seen, todo = set(targets), list(targets)
    while todo:
        for s in back[todo.pop()]:
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def _downstream(out_of: dict, starts: list) -> set:
    seen, todo = set(starts), list(starts)
    while todo:
        for d in out_of[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def check_file(path: Path, schema: dict) -> list[str]:
    return check_maxpat(path, schema) if path.suffix in (".maxpat", ".amxd") else check_pd(path, schema)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Check patches against the cmt-bridge OSC schema.")
    p.add_argument("patches", nargs="*", type=Path, help="default: max_patches/*.maxpat and *.pd")
    p.add_argument("--schema", type=Path, help="JSON from `cmt-bridge osc-schema` (default: built-ins)")
    args = p.parse_args(argv)
    if args.schema:
        schema = json.loads(args.schema.read_text())
    else:
        from make_patches import shipped_schema
        schema = shipped_schema()
    paths = args.patches or sorted([*HERE.glob("*.maxpat"), *HERE.glob("*.pd"), *HERE.glob("live/*.amxd")])
    problems = [p for path in paths for p in check_file(path, schema)]
    for line in problems:
        print(line)
    print(f"{len(paths)} patch(es), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

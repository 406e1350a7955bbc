"""Max patcher files (.maxpat, JSON) built from Python: boxes, patch cords, inlet/outlet counts.

Max recomputes an object's inlets and outlets when it loads a patch, but a patch
cord to an outlet that does not exist is dropped silently, so the counts written
here must be the real ones. They come from :data:`OBJECT_IO` (checked against
patches saved by Max 7/8), and :func:`io_of` refuses an object it does not know.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

APPVERSION = {"major": 8, "minor": 5, "revision": 5, "architecture": "x64", "modernui": 1}
FONT = 12.0
ROW = 22.0           # height of an object box at 12 pt

# first word of a newobj -> (inlets, outlets, outlet types); None = depends on the arguments (see io_of)
OBJECT_IO: dict[str, tuple[int, int, list[str]] | None] = {
    "udpsend": (1, 0, []),
    "udpreceive": (1, 1, [""]),
    "prepend": (1, 1, [""]),
    "route": None,           # N args: N+1 inlets (right ones set the args), N+1 outlets (last = no match)
    "unpack": None,          # N args: 1 inlet, N outlets typed by the args
    "pack": None,            # N args: N inlets, 1 outlet
    "t": None,               # trigger: 1 inlet, one outlet per arg
    "makenote": (3, 2, ["float", "float"]),
    "noteout": (3, 0, []),
    "poly": (2, 4, ["int", "int", "int", "list"]),
    "mtof": (1, 1, [""]),
    "saw~": (2, 1, ["signal"]),
    "cycle~": (2, 1, ["signal"]),
    "adsr~": (5, 4, ["signal", "signal", "", ""]),
    "*~": (2, 1, ["signal"]),
    "+~": (2, 1, ["signal"]),
    "dac~": (2, 0, []),
    "/": (2, 1, ["float"]),   # with a float argument ("/ 127.")
    "*": (2, 1, ["float"]),
    "loadmess": (1, 1, [""]),
    "loadbang": (1, 1, ["bang"]),
    "metro": (2, 1, ["bang"]),
    "print": (1, 0, []),
    "opendialog": (1, 2, ["", "bang"]),
    "conformpath": (1, 2, ["", "int"]),
    "midiin": (1, 1, ["int"]),
    "midiout": (1, 0, []),
    "s": (1, 0, []),
    "r": (0, 1, [""]),
    # used by the Max for Live devices (live_layout.py)
    "transport": (2, 9, ["int", "int", "float", "float", "float", "", "int", "float", ""]),
    "js": None,              # inlets/outlets declared by the script: see JS_SCRIPTS
    "gate": (2, 1, [""]),    # no argument: one outlet, closed until a non-zero int in the left inlet
    "delay": (2, 1, ["bang"]),
    "tosymbol": (1, 1, [""]),
    # Jitter (the visuals patch): OB3D objects have one inlet and a texture/matrix + dumpout outlet
    "qmetro": (2, 1, ["bang"]),
    "jit.window": (1, 2, ["", ""]),
    "jit.gl.render": (1, 2, ["bang", ""]),
    "jit.gl.texture": (1, 2, ["jit_gl_texture", ""]),
    "jit.gl.slab": (1, 2, ["jit_gl_texture", ""]),
    "jit.gl.videoplane": (1, 2, ["jit_matrix", ""]),
    "live.thisdevice": (1, 3, ["bang", "int", "int"]),
}

# [js <script> ...]: the script's own `inlets` / `outlets` (Max reads them when it loads the file)
JS_SCRIPTS: dict[str, tuple[int, int]] = {"cmt_clips.js": (1, 3)}

# maxclass of a UI box -> (inlets, outlets, outlet types)
UI_IO: dict[str, tuple[int, int, list[str]]] = {
    "comment": (1, 0, []),
    "message": (2, 1, [""]),
    "button": (1, 1, ["bang"]),
    "toggle": (1, 1, ["int"]),
    "number": (1, 2, ["", "bang"]),
    "flonum": (1, 2, ["", "bang"]),
    "slider": (1, 1, [""]),
    "umenu": (1, 3, ["int", "", ""]),
    "ezdac~": (2, 0, []),
    "panel": (1, 0, []),
    "textedit": (1, 4, ["", "int", "", ""]),
    "jweb": (1, 1, [""]),    # the web browser object (Chromium Embedded): url / messages from the page out
    # Max for Live UI objects (outlet types as Max 8/9 save them)
    "live.dial": (1, 2, ["", "float"]),
    "live.numbox": (1, 2, ["", "float"]),
    "live.menu": (1, 3, ["", "", "float"]),
    "live.text": (1, 2, ["", ""]),
    "live.drop": (1, 2, ["", ""]),
    "live.comment": (1, 0, []),
}

_TRIGGER_TYPES = {"b": "bang", "f": "float", "i": "int", "l": "", "s": "", "a": ""}  # a = anything
_UNPACK_TYPES = {"s": "", "i": "int", "f": "float"}


def io_of(maxclass: str, text: str = "") -> tuple[int, int, list[str]]:
    """Inlets, outlets and outlet types of a box (KeyError for an object this module doesn't know)."""
    if maxclass != "newobj":
        return UI_IO[maxclass]
    words = text.split()
    head, args = words[0], words[1:]
    known = OBJECT_IO[head]
    if known is not None:
        return known
    n = len(args)
    if head == "route":
        return n + 1, n + 1, [""] * (n + 1)
    if head == "unpack":
        return 1, n, [_UNPACK_TYPES.get(a, "int" if a.lstrip("-").isdigit() else "float" if _is_float(a) else "")
                      for a in args]
    if head == "pack":
        return n, 1, [""]
    if head == "t":
        return 1, n, [_TRIGGER_TYPES[a] for a in args]
    if head == "js":
        inlets, outlets = JS_SCRIPTS[args[0]]
        return inlets, outlets, [""] * outlets
    raise KeyError(head)


def width(text: str) -> float:
    """The width Max gives a box of this text at 12 pt (about 7 px a character)."""
    return max(30.0, 7.0 * len(text) + 12.0)


def _is_float(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


@dataclass
class MaxPatch:
    """A patcher being built: ``add`` boxes (returns their id), ``connect`` outlets to inlets."""

    title: str
    rect: tuple[float, float, float, float] = (40.0, 80.0, 1200.0, 800.0)
    boxes: list[dict] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)

    def add(self, maxclass: str, x: float, y: float, w: float = 0.0, h: float = ROW, text: str | None = None,
            **attrs: Any) -> str:
        box_id = f"obj-{len(self.boxes) + 1}"
        inlets, outlets, types = io_of(maxclass, text or "")
        if not w:
            w = width(text or "")
        box: dict[str, Any] = {"id": box_id, "maxclass": maxclass, "numinlets": inlets, "numoutlets": outlets,
                               "patching_rect": [float(x), float(y), float(w), float(h)]}
        if types:
            box["outlettype"] = list(types)
        if text is not None:
            box["text"] = text
        if maxclass not in ("comment", "message", "newobj", "panel", "live.comment"):
            box["parameter_enable"] = 0
        box.update(attrs)
        self.boxes.append({"box": dict(sorted(box.items()))})
        return box_id

    def obj(self, text: str, x: float, y: float, w: float = 0.0, **attrs: Any) -> str:
        return self.add("newobj", x, y, w, text=text, **attrs)

    def msg(self, text: str, x: float, y: float, w: float = 0.0, **attrs: Any) -> str:
        return self.add("message", x, y, w, text=text, **attrs)

    def comment(self, text: str, x: float, y: float, w: float = 0.0, bold: bool = False, size: float = FONT,
                **attrs: Any) -> str:
        lines = text.count("\n") + 1
        width = w or max(40.0, 6.5 * max(len(line) for line in text.split("\n")) + 10.0)
        extra = {"fontface": 1} if bold else {}
        if size != FONT:
            extra["fontsize"] = size
        if lines > 1:
            extra["linecount"] = lines
        return self.add("comment", x, y, width, 6.0 + lines * size * 1.25, text=text, **extra, **attrs)

    def connect(self, src: str, outlet: int, dst: str, inlet: int = 0) -> None:
        self.lines.append({"patchline": {"destination": [dst, inlet], "source": [src, outlet]}})

    def to_json(self) -> dict:
        return {"patcher": {
            "fileversion": 1, "appversion": dict(APPVERSION), "classnamespace": "box",
            "rect": [float(v) for v in self.rect], "bglocked": 0, "openinpresentation": 0,
            "default_fontsize": FONT, "default_fontface": 0, "default_fontname": "Arial",
            "gridonopen": 1, "gridsize": [15.0, 15.0], "gridsnaponopen": 1, "objectsnaponopen": 1,
            "statusbarvisible": 2, "toolbarvisible": 1, "lefttoolbarpinned": 0, "toptoolbarpinned": 0,
            "righttoolbarpinned": 0, "bottomtoolbarpinned": 0, "toolbars_unpinned_last_save": 0,
            "tallnewobj": 0, "boxanimatetime": 200, "enablehscroll": 1, "enablevscroll": 1,
            "devicewidth": 0.0, "description": self.title, "digest": "", "tags": "cmt-bridge", "style": "",
            "subpatcher_template": "", "assistshowspatchername": 0,
            "boxes": self.boxes, "lines": self.lines, "dependency_cache": [], "autosave": 0}}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent="\t") + "\n"

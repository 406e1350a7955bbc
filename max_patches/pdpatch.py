"""Pure Data patch files (.pd): a writer for the generated patches and a parser for the checks.

A .pd file is a list of records ending in ``;``: ``#N canvas x y w h font`` opens
the patch, ``#X obj|msg|text|floatatom x y ...`` adds a box (boxes are numbered
in file order, comments included), ``#X connect src outlet dst inlet`` a cord.
Inside a box's text ``$``, ``,`` and ``;`` are escaped with a backslash.
Only flat patches (no subpatches) are generated and parsed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FONT = 12

# first word -> (inlets, outlets) for the vanilla objects the generated patches use; None = by arguments
OBJECT_IO: dict[str, tuple[int, int] | None] = {
    "netsend": (1, 2), "netreceive": (1, 1), "oscformat": (1, 1), "oscparse": (1, 1),
    "list": None, "route": None, "t": None, "unpack": None, "pack": None, "sel": None,
    "print": (1, 0), "r": (0, 1), "s": (1, 0), "loadbang": (1, 1),
    "makenote": (3, 2), "noteout": (3, 0), "mtof": (1, 1), "osc~": (2, 1), "phasor~": (2, 1),
    "vline~": (3, 1), "*~": (2, 1), "+~": (2, 1), "dac~": (2, 0), "lop~": (2, 1), "poly": (2, 3),
    "/": (2, 1), "*": (2, 1), "openpanel": (1, 1), "symbol": (2, 1), "del": (2, 1), "metro": (2, 1),
    "fudiparse": (1, 1),
    # GUI boxes
    "hsl": (1, 1), "nbx": (1, 1), "bng": (1, 1), "tgl": (1, 1),
}
BOX_IO = {"msg": (1, 1), "text": (0, 0), "floatatom": (1, 1), "symbolatom": (1, 1)}

TOKEN = re.compile(r"(?:\\.|[^\s\\])+")


def escape(text: str) -> str:
    return text.replace("$", "\\$").replace(",", " \\,").replace(";", " \\;")


def unescape(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token)


def io_of(kind: str, words: list[str]) -> tuple[int, int]:
    """Inlets and outlets of a box (KeyError for an object this module doesn't know)."""
    if kind != "obj":
        return BOX_IO[kind]
    head, args = words[0], words[1:]
    known = OBJECT_IO[head]
    if known is not None:
        return known
    n = len(args)
    if head == "list":
        sub = args[0] if args else "append"
        if sub == "split":
            return 2, 3
        return (1, 1) if sub in ("trim", "length", "fromsymbol", "tosymbol") else (2, 1)
    if head in ("route", "sel"):
        return (2 if n == 1 else 1), n + 1
    if head == "t":
        return 1, n
    if head == "unpack":
        return 1, max(n, 2)
    if head == "pack":
        return max(n, 2), 1
    raise KeyError(head)


@dataclass
class PdBox:
    index: int
    kind: str              # obj | msg | text | floatatom
    x: int
    y: int
    words: list[str]       # unescaped atoms after x y

    @property
    def head(self) -> str:
        return self.words[0] if self.words else ""


@dataclass
class PdPatch:
    """A flat patch: boxes in file order and cords (src, outlet, dst, inlet)."""

    size: tuple[int, int] = (1000, 700)
    boxes: list[PdBox] = field(default_factory=list)
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)
    _texts: list[str] = field(default_factory=list)

    def _add(self, kind: str, x: float, y: float, text: str) -> int:
        index = len(self.boxes)
        self.boxes.append(PdBox(index, kind, int(x), int(y), [unescape(t) for t in TOKEN.findall(escape(text))]))
        self._texts.append(f"#X {kind} {int(x)} {int(y)} {escape(text)};")
        return index

    def obj(self, text: str, x: float, y: float) -> int:
        return self._add("obj", x, y, text)

    def msg(self, text: str, x: float, y: float) -> int:
        return self._add("msg", x, y, text)

    def atom(self, text: str, x: float, y: float) -> int:
        """A number box (floatatom: width min max label-position label receive send ...)."""
        return self._add("floatatom", x, y, text)

    def comment(self, text: str, x: float, y: float) -> int:
        return self._add("text", x, y, text)

    def connect(self, src: int, outlet: int, dst: int, inlet: int = 0) -> None:
        self.lines.append((src, outlet, dst, inlet))

    def dumps(self) -> str:
        out = [f"#N canvas 40 60 {self.size[0]} {self.size[1]} {FONT};", *self._texts]
        out += [f"#X connect {s} {o} {d} {i};" for s, o, d, i in self.lines]
        return "\n".join(out) + "\n"


def hsl(label: str, lo: float, hi: float, width: int = 160) -> str:
    """A horizontal slider (no init, no send/receive names) labelled above."""
    return f"hsl {width} 16 {lo:g} {hi:g} 0 0 empty empty {label} 0 -9 0 10 #fcfcfc #000000 #000000 0 1"


def nbx(label: str, lo: float, hi: float, digits: int = 6) -> str:
    return f"nbx {digits} 16 {lo:g} {hi:g} 0 0 empty empty {label} 0 -9 0 10 #fcfcfc #000000 #000000 0 256"


def tgl(label: str) -> str:
    return f"tgl 18 0 empty empty {label} 22 9 0 10 #fcfcfc #000000 #000000 0 1"


def bng(label: str) -> str:
    return f"bng 18 250 50 0 empty empty {label} 22 9 0 10 #fcfcfc #000000 #000000"


def split_records(text: str) -> list[str]:
    """Records of a .pd file: split at unescaped ';' (newlines inside a record are spaces)."""
    records, current, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if c == ";":
            records.append("".join(current).replace("\n", " ").strip())
            current = []
        else:
            current.append(c)
        i += 1
    return [r for r in records if r]


def parse(path_or_text: str | Path) -> PdPatch:
    text = Path(path_or_text).read_text() if isinstance(path_or_text, Path) else path_or_text
    patch = PdPatch()
    depth = 0
    for record in split_records(text):
        tokens = TOKEN.findall(record)
        if tokens[:2] == ["#N", "canvas"]:
            depth += 1
            if depth > 1:
                raise ValueError("subpatches are not supported")
            patch.size = (int(tokens[4]), int(tokens[5]))
        elif tokens[:2] == ["#X", "connect"]:
            patch.lines.append(tuple(int(t) for t in tokens[2:6]))  # type: ignore[arg-type]
        elif tokens[0] == "#X" and tokens[1] in ("obj", "msg", "text", "floatatom", "symbolatom"):
            words = [unescape(t) for t in tokens[4:]]
            patch.boxes.append(PdBox(len(patch.boxes), tokens[1], int(tokens[2]), int(tokens[3]), words))
        elif tokens[0] == "#X" and tokens[1] == "coords":
            continue
        else:
            raise ValueError(f"unsupported record: {record[:60]}")
    return patch

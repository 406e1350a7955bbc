"""One Max for Live MIDI-effect device per generator, laid out from the OSC schema for Live's device strip.

Presentation (what Live shows, at most STRIP_HEIGHT px high), left to right:
the device panel (title, Play / Stop, Follow Live, Generate + clip length, Learn
from clip, status lines: Live's bar.beat and the host's beat, news / progress,
the last error); the generator's parameters in columns (a live.dial for a
bounded number, a live.numbox for a huge range such as a seed, a live.text
toggle for a bool, a live.menu for choices, a textedit for free text); its
actions (a live.text button each; a live.drop for a file argument).

Wiring: every parameter -> [prepend /cmt/<gen>/<param>] -> [s ---cmtb-out] ->
[udpsend 127.0.0.1 9000]. Action buttons go the same way through a [gate] that
opens a second after [live.thisdevice] reports the device ready, so Live
restoring a button's value never fires an action. [transport] (Live's tempo, position, play state; polled by [metro]) and
the bridge's replies ([udpreceive 9001] -> [s cmt-bridge-in], shared with the
other cmt-bridge patches) feed [js cmt_clips.js], which forwards tempo and
play/stop, writes Generate's clips and plays clips out for Learn from clip.
"""
from __future__ import annotations

from dataclasses import dataclass

from control_layout import FORWARD, HOST, OUT, PORT, REPLY, _in
from maxpat import MaxPatch

STRIP_HEIGHT = 169.0         # Live's device strip (px); every presentation box lies inside it
TOP, BOTTOM = 4.0, 165.0     # usable band of the strip
PANEL_W = 116.0              # the device panel on the left
ACTIONS = "---cmtb-act"      # action messages: through the load gate to [udpsend]
SCRIPT = "cmt_clips.js"
HUGE_RANGE = 100_000         # an int range wider than this gets a number box, not a dial
LIVE_INT = (0, 255)          # the range of Live's int parameters
CLIP_BARS = (1, 64, 4)       # Generate's clip length: min, max, default (bars)
FILE_WORDS = ("path", "file")


def learn_action(actions: set[str]) -> str:
    """What Learn from clip calls: ``learn_notes`` (the clip's notes as JSON) when the generator has it,
    else ``learn`` (the clip played into the bridge's MIDI input), else ``-`` (no button)."""
    return next((a for a in ("learn_notes", "learn") if a in actions), "-")


@dataclass
class Control:
    """One presentation item of a column: its height and width in px, and a function that places it."""

    height: float
    width: float
    place: object            # (x, y) -> None


def device_file(gen: str) -> str:
    return f"cmt-bridge-{gen}.amxd"


def longname(name: str) -> str:
    return " ".join(w.capitalize() for w in name.replace("-", "_").split("_"))


def shortname(name: str, limit: int = 10) -> str:
    """A dial label of at most ``limit`` letters where possible: long words cut to 4, last first."""
    words = longname(name).split()
    for i in reversed(range(len(words))):
        if len(" ".join(words)) <= limit:
            break
        if len(words[i]) > 5:
            words[i] = words[i][:4]
    return " ".join(words)


def unit_style(p: dict) -> dict:
    """parameter_unitstyle: 0 int, 1 float, 9 custom with parameter_units (the schema's unit)."""
    if p["unit"]:
        return {"parameter_unitstyle": 9, "parameter_units": p["unit"]}
    return {"parameter_unitstyle": 1 if p["type"] == "float" else 0}


def is_file_arg(a: dict) -> bool:
    return a["type"] == "str" and (a["name"] in FILE_WORDS or "file" in a.get("doc", "").lower())


class DeviceBuilder:
    """Builds one generator's device: ``build()`` returns the patcher dict of the .amxd."""

    def __init__(self, schema: dict, gen: dict) -> None:
        self.schema, self.gen, self.name = schema, gen, gen["name"]
        self.m = MaxPatch(f"cmt-bridge {self.name} (Max for Live MIDI effect)")
        self.longnames: set[str] = set()
        self.parameters: dict[str, list] = {}
        self.row = 0                          # patching-view row for the next wiring chain

    # -- helpers ----------------------------------------------------------------------------------
    def at(self) -> tuple[float, float]:
        """A free spot in the patching view (one row per control chain, below the device panel)."""
        self.row += 1
        return 20.0 + 300.0 * (self.row % 4), 420.0 + 110.0 * (self.row // 4)

    def unique(self, name: str) -> str:
        base, n = name, 2
        while name in self.longnames:
            name, n = f"{base} {n}", n + 1
        self.longnames.add(name)
        return name

    def live(self, maxclass: str, x: float, y: float, rect: tuple, valueof: dict, **attrs) -> str:
        """A live.* object that is a Live parameter (automatable, MIDI-mappable, saved with the Set)."""
        valueof["parameter_longname"] = self.unique(valueof["parameter_longname"])
        box = self.m.add(maxclass, x, y, rect[2], rect[3], parameter_enable=1, presentation=1,
                         presentation_rect=[float(v) for v in rect], varname=valueof["parameter_longname"],
                         saved_attribute_attributes={"valueof": dict(sorted(valueof.items()))}, **attrs)
        self.parameters[box] = [valueof["parameter_longname"], valueof["parameter_shortname"], 0]
        return box

    def shown(self, maxclass: str, x: float, y: float, rect: tuple, **attrs) -> str:
        return self.m.add(maxclass, x, y, rect[2], rect[3], presentation=1,
                          presentation_rect=[float(v) for v in rect], **attrs)

    def label(self, text: str, rect: tuple) -> str:
        x, y = self.at()
        return self.shown("comment", x, y - 30, rect, text=text, fontsize=9.0)

    def button(self, text: str, rect: tuple, long: str) -> str:
        x, y = self.at()
        return self.live("live.text", x, y, rect, {
            "parameter_longname": long, "parameter_shortname": text, "parameter_type": 2,
            "parameter_mmax": 1, "parameter_enum": ["off", "on"], "parameter_initial_enable": 0},
            mode=0, text=text, texton=text, fontsize=9.0)

    def action_message(self, button: str, text: str) -> None:
        """button -> [t b] -> [text( -> the gated action send."""
        x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
        bang = self.m.obj("t b", x, y + 30)
        msg = self.m.msg(text, x, y + 56)
        self.m.connect(button, 0, bang), self.m.connect(bang, 0, msg)
        self.m.connect(msg, 0, self.m.obj(f"s {ACTIONS}", x, y + 82))

    # -- the device -------------------------------------------------------------------------------
    def build(self) -> dict:
        self.plumbing()
        self.panel()
        columns = [self.param_control(p) for p in self.gen["params"]]
        x = self.pack(columns, PANEL_W + 12.0)
        actions = [self.action_control(a) for a in self.gen["actions"]]
        width = self.pack(actions, x + (6.0 if actions else 0.0)) + 4.0
        return self.device_json(width)

    def plumbing(self) -> None:
        m = self.m
        m.comment(f"cmt-bridge {self.name}: generated by max_patches/make_patches.py from "
                  "`cmt-bridge osc-schema`; edit the script, not this device", 20, 200, 560)
        udpsend = m.obj(f"udpsend {HOST} {PORT}", 20, 260)
        m.connect(m.obj(f"r {OUT}", 20, 230), 0, udpsend)
        gate = m.obj("gate", 160, 230)
        m.connect(m.obj(f"r {ACTIONS}", 200, 200), 0, gate, 1)
        m.connect(gate, 0, udpsend)
        delay = m.obj("delay 1000", 300, 200)
        load = m.obj("live.thisdevice", 300, 170)      # bangs once the device is initialised
        m.connect(load, 0, delay)
        m.connect(delay, 0, m.msg("1", 300, 230)), m.connect(m.boxes[-1]["box"]["id"], 0, gate, 0)
        m.connect(m.obj("midiin", 440, 170), 0, m.obj("midiout", 440, 200))
        # the bridge's replies (shared with the other cmt-bridge patches through [r cmt-bridge-in])
        m.connect(m.obj(f"udpreceive {REPLY}", 600, 170), 0, m.obj(f"s {FORWARD}", 600, 200))
        words = ("note", "beat", "error", "progress", "info")
        route = m.obj("route " + " ".join(f"/cmt/{w}" for w in words), 600, 260, 360)
        m.connect(m.obj(f"r {FORWARD}", 600, 230), 0, route)
        actions = {a["name"] for a in self.gen["actions"]}
        js_args = " ".join([SCRIPT, self.name, "sample" if "sample" in actions else "-",
                            learn_action(actions)])
        self.js = m.obj(f"js {js_args}", 600, 340, 300,
                        saved_object_attributes={"filename": SCRIPT, "parameter_enable": 0})
        for i, w in enumerate(words):
            m.connect(route, i, m.obj(f"prepend {'hosterror' if w == 'error' else w}", 600 + 75 * i, 300))
            m.connect(m.boxes[-1]["box"]["id"], 0, self.js)
        m.connect(self.js, 0, m.obj(f"s {OUT}", 600, 370))
        m.connect(self.js, 2, m.obj("midiout", 900, 370))
        # Live's transport -> js (tempo, play/stop and the song position go to the bridge from there)
        metro = m.obj("metro 100", 20, 300)
        m.connect(load, 0, metro)
        transport = m.obj("transport", 20, 326, 200)
        m.connect(metro, 0, transport)
        pack = m.obj("pack 0 0 0. 0 0.", 20, 352)   # bar, beat, tempo, playing, ticks (song position)
        for outlet, inlet in ((0, 0), (1, 1), (4, 2), (6, 3), (7, 4)):
            m.connect(transport, outlet, pack, inlet)
        m.connect(pack, 0, m.obj("prepend transport", 20, 378)), m.connect(m.boxes[-1]["box"]["id"], 0, self.js)
        m.connect(transport, 5, m.obj("prepend timesig", 200, 352)), m.connect(m.boxes[-1]["box"]["id"], 0, self.js)
        self.status_route = m.obj("route position error status", 600, 400, 200)
        m.connect(self.js, 1, self.status_route)

    def to_js(self, src: str, outlet: int, selector: str) -> None:
        """src -> [prepend selector] -> the js (a message the script handles)."""
        x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
        pre = self.m.obj(f"prepend {selector}", x, y + 30)
        self.m.connect(src, outlet, pre), self.m.connect(pre, 0, self.js)

    def panel(self) -> None:
        m, name = self.m, self.name
        x, y = self.at()
        self.shown("comment", x, y - 30, (4, 2, PANEL_W, 18), text=f"cmt-bridge {name}", fontface=1)
        play = self.button("Play", (4, 22, 56, 16), "Play")
        self.action_message(play, f"/cmt/play {name}")
        stop = self.button("Stop", (64, 22, 56, 16), "Stop")
        self.action_message(stop, f"/cmt/stop {name}")
        x, y = self.at()
        follow = self.live("live.text", x, y, (4, 42, PANEL_W, 16), {
            "parameter_longname": "Follow Live", "parameter_shortname": "Follow", "parameter_type": 2,
            "parameter_mmax": 1, "parameter_enum": ["off", "on"], "parameter_initial": [1],
            "parameter_initial_enable": 1}, mode=1, text="Follow Live: off", texton="Follow Live", fontsize=9.0)
        self.to_js(follow, 0, "follow")
        gen_button = self.button("Generate", (4, 62, 70, 16), "Generate")
        x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
        bang = m.obj("t b", x, y + 30)
        m.connect(gen_button, 0, bang), m.connect(bang, 0, m.msg("generate", x, y + 56))
        m.connect(m.boxes[-1]["box"]["id"], 0, self.js)
        x, y = self.at()
        lo, hi, default = CLIP_BARS
        bars = self.live("live.numbox", x, y, (78, 62, 42, 16), {
            "parameter_longname": "Clip Bars", "parameter_shortname": "Bars", "parameter_type": 1,
            "parameter_mmin": lo, "parameter_mmax": hi, "parameter_initial": [default],
            "parameter_initial_enable": 1, "parameter_unitstyle": 9, "parameter_units": "bars"})
        self.to_js(bars, 0, "bars")
        if learn_action({a["name"] for a in self.gen["actions"]}) != "-":
            learn = self.button("Learn from clip", (4, 82, PANEL_W, 16), "Learn From Clip")
            x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
            bang = m.obj("t b", x, y + 30)
            m.connect(learn, 0, bang), m.connect(bang, 0, m.msg("learnclip", x, y + 56))
            m.connect(m.boxes[-1]["box"]["id"], 0, self.js)
        for i, (kind, rect) in enumerate((("position", (4, 102, PANEL_W, 16)), ("status", (4, 118, PANEL_W, 28)),
                                          ("error", (4, 146, PANEL_W, 18)))):
            x, y = self.at()
            out = {"position": 0, "error": 1, "status": 2}[kind]
            pre = m.obj("prepend set", x, y)
            m.connect(self.status_route, out, pre)
            text = {"position": "Live -.-", "status": "", "error": ""}[kind]
            m.connect(pre, 0, self.shown("comment", x, y + 26, rect, text=text, fontsize=9.0,
                                         varname=f"status-{kind}"))

    # -- parameters -------------------------------------------------------------------------------
    def param_control(self, p: dict) -> Control:
        address = f"/cmt/{self.name}/{p['name']}"

        def wire(src: str, outlet: int = 0) -> None:
            x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
            pre = self.m.obj(f"prepend {address}", x, y + 60)
            self.m.connect(src, outlet, pre)
            self.m.connect(pre, 0, self.m.obj(f"s {OUT}", x, y + 86))

        long, short = longname(p["name"]), shortname(p["name"])
        bounded = p["min"] is not None and p["max"] is not None
        if p.get("choices"):
            choices = list(p["choices"])

            def place(x: float, y: float) -> None:
                self.label(short, (x, y, 56, 14))
                px, py = self.at()
                box = self.live("live.menu", px, py, (x, y + 14, 52, 16), {
                    "parameter_longname": long, "parameter_shortname": short, "parameter_type": 2,
                    "parameter_enum": choices, "parameter_mmax": len(choices) - 1,
                    "parameter_initial": [choices.index(p["default"]) if p["default"] in choices else 0],
                    "parameter_initial_enable": 1})
                wire(box, 1)                          # the middle outlet: the chosen item's text
            return Control(34, 56, place)
        if p["type"] == "bool":
            def place(x: float, y: float) -> None:
                px, py = self.at()
                box = self.live("live.text", px, py, (x, y, 52, 16), {
                    "parameter_longname": long, "parameter_shortname": short, "parameter_type": 2,
                    "parameter_enum": ["off", "on"], "parameter_mmax": 1,
                    "parameter_initial": [int(bool(p["default"]))], "parameter_initial_enable": 1},
                    mode=1, text=short, texton=short, fontsize=9.0)
                wire(box)
            return Control(20, 56, place)
        if p["type"] in ("int", "float") and bounded:
            # Live's int parameters hold 0..255 only: a wider int is a float parameter shown as an int,
            # and [t i] makes its output an int again (Max for Live's parameter reference, "Type")
            wide = p["type"] == "int" and not LIVE_INT[0] <= p["min"] <= p["max"] <= LIVE_INT[1]
            valueof = {"parameter_longname": long, "parameter_shortname": short,
                       "parameter_type": 0 if p["type"] == "float" or wide else 1,
                       "parameter_mmin": p["min"], "parameter_mmax": p["max"],
                       "parameter_initial": [p["default"]], "parameter_initial_enable": 1, **unit_style(p)}

            def wire_value(box: str) -> None:
                if not wide:
                    return wire(box)
                x, y = self.m.boxes[-1]["box"]["patching_rect"][:2]
                to_int = self.m.obj("t i", x, y + 30)
                self.m.connect(box, 0, to_int)
                wire(to_int)
            if p["type"] == "int" and p["max"] - p["min"] > HUGE_RANGE:
                def place(x: float, y: float) -> None:
                    self.label(short, (x, y, 56, 14))
                    px, py = self.at()
                    wire_value(self.live("live.numbox", px, py, (x, y + 14, 52, 16), dict(valueof)))
                return Control(34, 56, place)

            def place(x: float, y: float) -> None:
                px, py = self.at()
                wire_value(self.live("live.dial", px, py, (x, y, 52, 48), dict(valueof), showname=1,
                                     shownumber=1, fontsize=9.0))
            return Control(50, 56, place)
        # free text (or an unbounded number): typed into a textedit, sent on Return
        def place(x: float, y: float) -> None:
            self.label(short, (x, y, 100, 14))
            px, py = self.at()
            edit = self.shown("textedit", px, py, (x, y + 14, 100, 18), fontsize=9.0, lines=1,
                              varname=f"edit-{p['name']}")
            route = self.m.obj("route text", px, py + 26)
            self.m.connect(edit, 0, route)
            if p["type"] == "str":
                sym = self.m.obj("tosymbol", px, py + 30)
                self.m.connect(route, 0, sym)
                wire(sym)
            else:
                wire(route)
        return Control(36, 104, place)

    # -- actions ----------------------------------------------------------------------------------
    def action_control(self, a: dict) -> Control:
        address = f"/cmt/{self.name}/{a['name']}"
        label = longname(a["name"])
        args = a["args"]
        if len(args) == 1 and is_file_arg(args[0]):
            def place(x: float, y: float) -> None:
                px, py = self.at()
                # not a Live parameter: Live would restore (and so send) the last file on load
                drop = self.shown("live.drop", px, py, (x, y, 86, 30), parameter_enable=0,
                                  legend=f"{label}: drop a file", fontsize=9.0, varname=f"drop-{a['name']}")
                path = self.m.obj("conformpath slash boot", px, py + 30)
                pre = self.m.obj(f"prepend {address}", px, py + 56)
                self.m.connect(drop, 0, path), self.m.connect(path, 0, pre)
                self.m.connect(pre, 0, self.m.obj(f"s {ACTIONS}", px, py + 82))
            return Control(34, 86, place)
        if len(args) == 1 and args[0]["type"] == "str":
            def place(x: float, y: float) -> None:
                self.action_message(self.button(label, (x, y, 86, 16), label), address)
                px, py = self.at()
                edit = self.shown("textedit", px, py, (x, y + 18, 86, 18), fontsize=9.0, lines=1,
                                  varname=f"edit-{a['name']}")
                route = self.m.obj("route text", px, py + 26)
                sym = self.m.obj("tosymbol", px, py + 52)
                pre = self.m.obj(f"prepend {address}", px, py + 78)
                self.m.connect(edit, 0, route), self.m.connect(route, 0, sym), self.m.connect(sym, 0, pre)
                self.m.connect(pre, 0, self.m.obj(f"s {ACTIONS}", px, py + 104))
            return Control(40, 86, place)

        # no argument, or optional numbers: the button sends the bare address (the schema's defaults)
        def place(x: float, y: float) -> None:
            self.action_message(self.button(label, (x, y, 86, 16), label), address)
        return Control(20, 86, place)

    def pack(self, controls: list[Control], x: float) -> float:
        """Place ``controls`` top to bottom in columns from ``x``; returns the right edge (px)."""
        y, col_w, right = TOP, 0.0, x
        for c in controls:
            if y + c.height > BOTTOM and y > TOP:
                x, y, col_w = x + col_w + 4.0, TOP, 0.0
            c.place(x, y)
            y += c.height
            col_w = max(col_w, c.width)
            right = x + col_w
        return right

    # -- the patcher as Live saves a device -------------------------------------------------------
    def device_json(self, width: float) -> dict:
        from amxd import MIDI_EFFECT, amxdtype

        data = self.m.to_json()
        p = data["patcher"]
        bottom = max(b["box"]["patching_rect"][1] + b["box"]["patching_rect"][3] for b in self.m.boxes)
        p.update({
            "rect": [40.0, 80.0, 1280.0, float(bottom + 60)], "openinpresentation": 1,
            "devicewidth": float(width), "openrect": [0.0, 0.0, float(width), STRIP_HEIGHT],
            "description": f"cmt-bridge {self.name}: {self.gen.get('description', '')}",
            "latency": 0, "is_mpe": 0, "minimum_live_version": "", "minimum_max_version": "",
            "platform_compatibility": 0,
            "project": {"version": 1, "creationdate": 0, "modificationdate": 0,
                        "viewrect": [0.0, 0.0, 300.0, 500.0], "autoorganize": 1, "hideprojectwindow": 1,
                        "showdependencies": 1, "autolocalize": 0,
                        "contents": {"patchers": {}, "media": {}, "code": {}, "data": {}, "other": {}},
                        "layout": {}, "searchpath": {}, "detailsvisible": 0,
                        "amxdtype": amxdtype(MIDI_EFFECT), "readonly": 0, "devpathtype": 0, "devpath": ".",
                        "sortmode": 0, "viewmode": 0, "includepackages": 0},
            "parameters": {**self.parameters, "inherited_shortname": 1},
            "dependency_cache": [{"name": SCRIPT, "type": "TEXT", "implicit": 1}],
        })
        return data


def max_device(schema: dict, name: str) -> dict:
    """The patcher dict of generator ``name``'s device (KeyError if the schema has no such generator)."""
    _in(schema, "/cmt/tempo")          # the devices forward Live's tempo: the host must take it
    return DeviceBuilder(schema, schema["generators"][name]).build()


"""The host's settings: a TOML file (tomllib) with every option also a flag; flags win.

Each setting is declared once, in :data:`SETTINGS` (as tox 4 declares its
configuration): that table makes the ``Settings`` dataclass, the keys the file
reader accepts, the flags of ``cmt-bridge run`` (:func:`add_flags`) and the
table in docs/host.md (:func:`settings_markdown`, checked by a test).

Example ``cmt-bridge.toml``::

    tempo = 120.0            # BPM, 20..300
    play = "midime"          # start this generator at launch
    record = "recordings/session.mid"   # or false for no recording

    [midi]
    out = ""                 # existing port name (Windows: "loopMIDI Port"); "" = virtual port
    virtual_name = "cmt-bridge"
    in = ""                  # existing input port name; "" and virtual_in = false: no input
    virtual_in = false
    api = "auto"             # auto | jack | alsa | coremidi | winmm | none
    clock_out = false        # send MIDI clock (Live follows the bridge)
    follow_clock = false     # follow incoming MIDI clock (the bridge follows Live)

    [osc]
    host = "127.0.0.1"       # listen address; anything else needs allow = [...]
    port = 9000
    reply_host = "127.0.0.1"
    reply_port = 9001
    allow = []               # senders accepted beyond loopback: "192.168.1.20" or "192.168.1.0/24"

    [web]                    # the browser control surface (cmt-bridge run --web)
    port = 8765              # omit (or no --web) for none; 0 = any free port
    host = "127.0.0.1"       # anything else needs [osc] allow = [...]; the page then needs its token

    [link]
    enabled = false          # Ableton Link (pip install 'cmt-bridge[link]')

    [[cc]]                   # MIDI CC -> generator parameter
    cc = 21
    channel = 1              # optional, 1..16 (omit = any channel)
    generator = "midime"
    param = "temperature"

    [generators.midime]      # parameter defaults, validated against each Param
    temperature = 0.7
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEFAULT_OSC_PORT = 9000
DEFAULT_REPLY_PORT = 9001
DEFAULT_WEB_PORT = 8765
LOOPBACK = "127.0.0.1"
APIS = ("auto", "jack", "alsa", "coremidi", "winmm", "none")


@dataclass(frozen=True)
class Setting:
    """One host setting: the single declaration behind the Settings field, its TOML key, its flag
    of ``cmt-bridge run`` and its row in docs/host.md (as tox 4 declares its configuration)."""

    name: str                 # the Settings field
    type: str                 # "float" | "int" | "bool" | "str" | "list" | "table"; "?" suffix: None allowed
    default: Any
    doc: str
    key: str = ""             # TOML key ("tempo", "midi.out"); "" = the field name at the top level
    flag: str = ""            # "--tempo"; "" = no flag of its own
    metavar: str | None = None
    group: str = ""           # the --help group: "" | "MIDI" | "OSC" | "web"
    choices: tuple[str, ...] = ()
    const: Any = None         # the value of the flag given without one (argparse nargs="?")

    @property
    def toml(self) -> str:
        return self.key or self.name

    @property
    def base(self) -> str:
        return self.type.rstrip("?")


#: every host setting, in the order of --help and of the docs table
SETTINGS: tuple[Setting, ...] = (
    Setting("tempo", "float", 120.0, "tempo 20..300 BPM", flag="--tempo", metavar="BPM"),
    Setting("beats_per_bar", "int", 4, "beats per bar 1..16", flag="--beats-per-bar", metavar="N"),
    Setting("play", "list", [], "start these generators at launch (flag repeatable; TOML: a name or a list)",
            flag="--play", metavar="GENERATOR"),
    Setting("provider", "str?", None, "onnxruntime provider: cpu, cuda or a full name (default: CUDA if any)",
            flag="--provider", metavar="NAME"),
    Setting("record", "str?", "", "recording path; {time} is the start time, an existing take is kept "
            "(name-2.mid...) (default recordings/cmt-bridge-{time}.mid; TOML false or --no-record: none)",
            flag="--record", metavar="PATH"),
    Setting("quantize", "float?", None, "launch quantum in beats (default one bar; 0 = at once)",
            flag="--quantize", metavar="BEATS"),
    Setting("lookahead", "float?", None, "phrases made this many beats ahead (default one bar)",
            flag="--lookahead", metavar="BEATS"),
    Setting("preset", "str?", None, "load this preset at start (cmt-bridge preset list; the config's "
            "[generators.NAME] and --set win over it)", flag="--preset", metavar="NAME"),
    Setting("seconds", "float?", None, "stop after N seconds (scripted runs)", flag="--seconds", metavar="N"),
    Setting("midi_out", "str?", None, "play into this existing port (default: a virtual port)", key="midi.out",
            flag="--midi-out", metavar="NAME", group="MIDI"),
    Setting("virtual_name", "str", "cmt-bridge", "name of the virtual output", key="midi.virtual_name",
            flag="--virtual-name", metavar="NAME", group="MIDI"),
    Setting("midi_in", "str?", None, "take notes, CC and clock from this port", key="midi.in",
            flag="--midi-in", metavar="NAME", group="MIDI"),
    Setting("virtual_in", "bool", False, "open a virtual input (VIRTUAL_NAME-in, e.g. cmt-bridge-in)",
            key="midi.virtual_in", flag="--virtual-in", group="MIDI"),
    Setting("api", "str", "auto", "MIDI API (auto: JACK if running, else the platform's)", key="midi.api",
            flag="--api", group="MIDI", choices=APIS),
    Setting("clock_out", "bool", False, "send MIDI clock (Live follows us)", key="midi.clock_out",
            flag="--clock-out", group="MIDI"),
    Setting("follow_clock", "bool", False, "follow incoming MIDI clock", key="midi.follow_clock",
            flag="--follow-clock", group="MIDI"),
    Setting("link", "bool", False, "join an Ableton Link session (pip install 'cmt-bridge[link]')",
            key="link.enabled", flag="--link", group="MIDI"),
    Setting("cc", "table", [], "MIDI CC -> generator parameter ([[cc]] tables; flag [CH:]CC=GEN.PARAM, "
            "repeatable)", flag="--cc", metavar="[CH:]CC=GEN.PARAM", group="MIDI"),
    Setting("osc_host", "str", LOOPBACK, "OSC listen address (beyond loopback needs an allow-list)",
            key="osc.host", flag="--osc-host", metavar="ADDR", group="OSC"),
    Setting("osc_port", "int", DEFAULT_OSC_PORT, "OSC listen port", key="osc.port", flag="--osc-port",
            metavar="PORT", group="OSC"),
    Setting("osc_allow", "list", [], "senders allowed beyond loopback (flag repeatable, commas too)",
            key="osc.allow", flag="--osc-allow", metavar="ADDR[/NN]", group="OSC"),
    Setting("reply_host", "str", LOOPBACK, "where replies and notes go", key="osc.reply_host",
            flag="--reply-host", metavar="ADDR", group="OSC"),
    Setting("reply_port", "int", DEFAULT_REPLY_PORT, "reply port", key="osc.reply_port", flag="--reply-port",
            metavar="PORT", group="OSC"),
    Setting("web", "int?", None, "serve the browser control surface on this port (the flag alone: "
            f"{DEFAULT_WEB_PORT}; 0 = any free port)", key="web.port", flag="--web", metavar="PORT", group="web",
            const=DEFAULT_WEB_PORT),
    Setting("web_host", "str", LOOPBACK, "web surface listen address (beyond loopback needs the OSC allow-list; "
            "the page URL then carries a random token)", key="web.host", flag="--web-host", metavar="ADDR",
            group="web"),
    Setting("generators", "table", {}, "parameter defaults ([generators.<name>] tables; flag "
            "GEN.PARAM=VALUE, repeatable), checked against each Param", flag="--set", metavar="GEN.PARAM=VALUE"),
)
_BY_NAME = {st.name: st for st in SETTINGS}
_BY_KEY = {st.toml: st for st in SETTINGS}
_TABLES = sorted({st.toml.split(".")[0] for st in SETTINGS if "." in st.toml})


def _settings_check(self) -> "Settings":
    """Raise ConfigError for values that can never work."""
    if not 20.0 <= float(self.tempo) <= 300.0:
        raise ConfigError(f"tempo must be in range 20..300 BPM, got {self.tempo}")
    if not 1 <= int(self.beats_per_bar) <= 16:
        raise ConfigError(f"beats_per_bar must be in range 1..16, got {self.beats_per_bar}")
    if self.api not in APIS:
        raise ConfigError(f"api must be one of {', '.join(APIS)}, got {self.api!r}")
    for name in ("osc_port", "reply_port", "web"):
        port = getattr(self, name)
        if name == "web" and port is None:
            continue
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError(f"{name.replace('_', '-')} must be a port number 0..65535, got {port!r}")
    for name in ("quantize", "lookahead", "seconds"):
        v = getattr(self, name)
        if v is not None and (not isinstance(v, (int, float)) or v < 0):
            raise ConfigError(f"{name} must be a number >= 0, got {v!r}")
    allow_networks(self.osc_allow)
    if not is_loopback(self.osc_host) and not self.osc_allow:
        raise ConfigError(f"listening on {self.osc_host} (beyond loopback) needs an allow-list: "
                          f"--osc-allow ADDRESS[,ADDRESS/NN...]")
    if not is_loopback(self.web_host) and not self.osc_allow:
        raise ConfigError(f"serving the web surface on {self.web_host} (beyond loopback) needs the OSC "
                          f"allow-list: --osc-allow ADDRESS[,ADDRESS/NN...]")
    return self


_ANNOTATION = {"float": "float", "int": "int", "bool": "bool", "str": "str", "list": "list", "table": "Any"}
Settings = make_dataclass(
    "Settings",
    [(st.name, _ANNOTATION[st.base] + (" | None" if st.type.endswith("?") else ""),
      field(default_factory=lambda v=st.default: type(v)(v)) if isinstance(st.default, (list, dict))
      else field(default=st.default)) for st in SETTINGS],
    namespace={"check": _settings_check, "__module__": __name__,
               "__doc__": "Everything ``cmt-bridge run`` needs (fields from SETTINGS); defaults <- config file <- flags."},
)


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allow_networks(allow: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for item in allow:
        try:
            nets.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ConfigError(f"osc allow-list entry {item!r} is not an address or network "
                              f"(e.g. 192.168.1.20 or 192.168.1.0/24)") from None
    return nets


def peer_allowed(ip: str, allow: list) -> bool:
    """True for a loopback sender or one inside the allow-list's networks (OSC and the web surface)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback or any(addr in net for net in allow)


def _check_type(key: str, setting: Setting, value: Any) -> Any:
    base = setting.base
    ok = {
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }
    if base in ok and not ok[base] and not (setting.type.endswith("?") and value is None):
        raise ConfigError(f"config {key}: expected {base}, got {value!r}")
    return value


def _file_value(path: Path, setting: Setting, key: str, value: Any) -> Any:
    """A TOML value for ``setting`` (``key`` as the file spells it), checked (ConfigError naming it)."""
    name = setting.name
    if name == "play":
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config {path}: play must be a generator name or a list of names")
        return value
    if name == "record":
        if value is False:
            return None
        if isinstance(value, str):
            return value
        raise ConfigError(f"config {path}: record must be a path or false")
    if name == "osc_allow":
        if not isinstance(value, list):
            raise ConfigError(f"config {path}: [osc] allow must be a list of addresses")
        return [str(x) for x in value]
    if name == "cc":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"config {path}: cc must be an array of tables ([[cc]])")
        return value
    if name == "generators":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise ConfigError(f"config {path}: [generators.<name>] tables hold parameter defaults")
        return value
    if name in ("midi_out", "midi_in") and value == "":
        return None
    return _check_type(key, setting, value)
def read_config_text(path: str | Path) -> str:
    """The text of a config file: UTF-8, with or without a byte-order mark, or UTF-16 with one (what
    Windows Notepad saves as "Unicode"); ConfigError in one line for anything else."""
    from .paths import input_file

    path = input_file(path, "config file", missing=f"config file {path} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"config file {path}: {e.strerror}") from None
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            raw, encoding = raw[len(bom):], codec
            break
    else:
        encoding = "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path}: not {encoding.upper()} text (byte {e.start}); "
                          f"save it as UTF-8") from None


def read_file(path: str | Path) -> dict[str, Any]:
    """Parse a TOML config file into Settings field values (ConfigError naming the bad key)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        data = tomllib.loads(read_config_text(path))
    except InputError as e:
        raise ConfigError(str(e)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: {e}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _BY_KEY:
            out[_BY_KEY[key].name] = _file_value(path, _BY_KEY[key], key, value)
        elif key in _TABLES and isinstance(value, dict):
            known = [st.toml.split(".", 1)[1] for st in SETTINGS if st.toml.startswith(key + ".")]
            for sub, v in value.items():
                if sub not in known:
                    raise ConfigError(f"config {path}: unknown option [{key}] {sub} (known: {', '.join(known)})")
                out[_BY_KEY[f"{key}.{sub}"].name] = _file_value(path, _BY_KEY[f"{key}.{sub}"], f"[{key}] {sub}", v)
        else:
            raise ConfigError(f"config {path}: unknown option {key!r}")
    return out


def build_settings(config: str | Path | None = None, **flags: Any) -> Settings:
    """Defaults <- config file <- flags (a flag given as None means 'not given')."""
    s = Settings()
    if config:
        for name, value in read_file(config).items():
            setattr(s, name, value)
    for name, value in flags.items():
        if name not in _BY_NAME:
            raise ConfigError(f"unknown setting {name!r}")
        if value is None:
            continue
        if name in ("cc", "osc_allow"):
            setattr(s, name, [*getattr(s, name), *value])
        elif name == "generators":
            merged = {k: dict(v) for k, v in s.generators.items()}
            for gen, params in value.items():
                merged.setdefault(gen, {}).update(params)
            s.generators = merged
        elif name == "play":
            s.play = list(value)
        else:
            setattr(s, name, value)
    return s.check()


_FLAG_TYPES = {"float": float, "int": int, "str": str}


def _shown(st: Setting) -> str:
    if st.base in ("list", "table") or st.default in (None, "") or st.base == "bool":
        return ""
    return f"{st.default:g}" if isinstance(st.default, float) else str(st.default)


def add_flags(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The flags of ``cmt-bridge run``, one per setting with a ``flag``; returns the help groups by name."""
    groups: dict[str, Any] = {"": parser}
    for st in SETTINGS:
        if not st.flag:
            continue
        if st.group not in groups:
            groups[st.group] = parser.add_argument_group(st.group)
        shown = _shown(st)
        kw: dict[str, Any] = {"dest": st.name, "help": st.doc + (f" (default {shown})" if shown else "")}
        if st.base == "bool":
            kw.update(action="store_true", default=None)
        elif st.base in ("list", "table"):
            kw.update(action="append", metavar=st.metavar)
        else:
            kw.update(type=_FLAG_TYPES[st.base], metavar=st.metavar)
            if st.choices:
                kw.update(choices=st.choices, metavar=None)
            if st.const is not None:
                kw.update(nargs="?", const=st.const)
        groups[st.group].add_argument(st.flag, **kw)
    return groups


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """Parsed flags -> Settings field values for :func:`build_settings` (None = not given)."""
    from .cc import parse_cc_flag

    out: dict[str, Any] = {}
    for st in SETTINGS:
        value = getattr(args, st.name, None) if st.flag else None
        if value is not None:
            if st.name == "cc":
                value = [parse_cc_flag(c) for c in value]
            elif st.name == "osc_allow":
                value = [x for item in value for x in item.split(",") if x.strip()] or None
            elif st.name == "generators":
                value = parse_set(value)
        out[st.name] = value
    return out


def settings_markdown() -> str:
    """The settings table of docs/host.md (tests/test_settings_docs.py fails when the docs are stale)."""
    rows = ["| TOML key | flag of `cmt-bridge run` | type | default | what it sets |", "| --- | --- | --- | --- | --- |"]
    for st in SETTINGS:
        key = st.toml if "." not in st.toml else "[{}] {}".format(*st.toml.split(".", 1))
        if st.name == "cc":
            key = "[[cc]]"
        elif st.name == "generators":
            key = "[generators.NAME]"
        flag = f"`{st.flag}" + (f" {st.metavar}`" if st.metavar else "`") if st.flag else ""
        kind = st.base + (" or none" if st.type.endswith("?") else "")
        if st.choices:
            kind = " \\| ".join(st.choices)
        shown = _shown(st) or ("false" if st.base == "bool" else "")
        rows.append(f"| `{key}` | {flag} | {kind} | {shown} | {st.doc.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def parse_set(items: list[str]) -> dict[str, dict[str, str]]:
    """``["midime.temperature=0.7"]`` -> ``{"midime": {"temperature": "0.7"}}`` (values coerced later)."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        gen, dot, param = key.partition(".")
        if not sep or not dot or not gen or not param:
            raise ConfigError(f"--set {item!r}: expected GENERATOR.PARAM=VALUE")
        out.setdefault(gen.strip(), {})[param.strip()] = value.strip()
    return out

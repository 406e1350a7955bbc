"""The host's settings: a TOML file (tomllib) with every option also a flag; flags win.

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

import ipaddress
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputError

log = logging.getLogger(__name__)

DEFAULT_OSC_PORT = 9000
DEFAULT_REPLY_PORT = 9001
LOOPBACK = "127.0.0.1"
APIS = ("auto", "jack", "alsa", "coremidi", "winmm", "none")


@dataclass
class Settings:
    """Everything ``cmt-bridge run`` needs; built from defaults <- config file <- flags."""

    tempo: float = 120.0
    beats_per_bar: int = 4
    play: list[str] = field(default_factory=list)
    provider: str | None = None
    record: str | None = ""          # "" -> recordings/cmt-bridge-<timestamp>.mid ; None -> off
    quantize: float | None = None    # launch quantum in beats; None = one bar; 0 = immediately
    lookahead: float | None = None   # beats of phrases made ahead of the clock; None = one bar
    seconds: float | None = None     # stop after this many seconds (scripted runs)
    midi_out: str | None = None
    virtual_name: str = "cmt-bridge"
    midi_in: str | None = None
    virtual_in: bool = False
    api: str = "auto"
    clock_out: bool = False
    follow_clock: bool = False
    link: bool = False
    osc_host: str = LOOPBACK
    osc_port: int = DEFAULT_OSC_PORT
    reply_host: str = LOOPBACK
    reply_port: int = DEFAULT_REPLY_PORT
    osc_allow: list[str] = field(default_factory=list)
    cc: list[dict] = field(default_factory=list)
    generators: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> "Settings":
        """Raise ConfigError for values that can never work."""
        if not 20.0 <= float(self.tempo) <= 300.0:
            raise ConfigError(f"tempo must be in range 20..300 BPM, got {self.tempo}")
        if not 1 <= int(self.beats_per_bar) <= 16:
            raise ConfigError(f"beats_per_bar must be in range 1..16, got {self.beats_per_bar}")
        if self.api not in APIS:
            raise ConfigError(f"api must be one of {', '.join(APIS)}, got {self.api!r}")
        for name in ("osc_port", "reply_port"):
            port = getattr(self, name)
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
        return self


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


# file layout: table -> {toml key: Settings field}
_TOP = {"tempo": "tempo", "beats_per_bar": "beats_per_bar", "play": "play", "provider": "provider",
        "record": "record", "quantize": "quantize", "lookahead": "lookahead", "seconds": "seconds"}
_TABLES = {
    "midi": {"out": "midi_out", "virtual_name": "virtual_name", "in": "midi_in", "virtual_in": "virtual_in",
             "api": "api", "clock_out": "clock_out", "follow_clock": "follow_clock"},
    "osc": {"host": "osc_host", "port": "osc_port", "reply_host": "reply_host", "reply_port": "reply_port",
            "allow": "osc_allow"},
    "link": {"enabled": "link"},
}
_TYPES = {f.name: f.type for f in fields(Settings)}


def _check_type(key: str, name: str, value: Any) -> Any:
    kind = _TYPES[name]
    ok = {
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
    }
    for base in ("float", "int", "bool", "str"):
        if kind.startswith(base):
            if not ok[base] and not (kind.endswith("| None") and value is None):
                raise ConfigError(f"config {key}: expected {base}, got {value!r}")
            return value
    return value


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
        if key in _TOP:
            name = _TOP[key]
            if name == "play":
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(f"config {path}: play must be a generator name or a list of names")
                out[name] = value
            elif name == "record":
                if value is False:
                    out[name] = None
                elif isinstance(value, str):
                    out[name] = value
                else:
                    raise ConfigError(f"config {path}: record must be a path or false")
            else:
                out[name] = _check_type(key, name, value)
        elif key in _TABLES and isinstance(value, dict):
            for sub, v in value.items():
                if sub not in _TABLES[key]:
                    raise ConfigError(f"config {path}: unknown option [{key}] {sub} "
                                      f"(known: {', '.join(_TABLES[key])})")
                name = _TABLES[key][sub]
                if name in ("midi_out", "midi_in") and v == "":
                    v = None
                if name == "osc_allow":
                    if not isinstance(v, list):
                        raise ConfigError(f"config {path}: [osc] allow must be a list of addresses")
                    out[name] = [str(x) for x in v]
                    continue
                out[name] = _check_type(f"[{key}] {sub}", name, v)
        elif key == "cc":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"config {path}: cc must be an array of tables ([[cc]])")
            out["cc"] = value
        elif key == "generators":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError(f"config {path}: [generators.<name>] tables hold parameter defaults")
            out["generators"] = value
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
        if name not in _TYPES:
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

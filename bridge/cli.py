"""The ``cmt-bridge`` command line. Heavy imports wait inside the commands: ``--help`` is instant."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Callable, Sequence

from .errors import BridgeError, ConfigError

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  cmt-bridge run                           virtual MIDI port 'cmt-bridge', OSC on 127.0.0.1:9000
  cmt-bridge run --play midime --tempo 96  start MidiMe at launch
  cmt-bridge run --midi-out "loopMIDI Port" --clock-out     Windows: play into loopMIDI, Live follows
  cmt-bridge run --config live.toml --seconds 20            a scripted run from a config file
  cmt-bridge plugins                       generators, their parameters and actions
  cmt-bridge osc-schema > osc.json         the whole OSC namespace (types, ranges, defaults)
  cmt-bridge pianoroll take.mid -o take.png
  oscsend localhost 9000 /cmt/play s midime       control a running host from a shell

environment: CMT_BRIDGE_PLUGINS=mod.path,file.py (extra plugins), CMT_BRIDGE_DISABLE=name,...,
  CMT_BRIDGE_MODELS=folder (model folders, default onnx_models/).
"""

RUN_EPILOG = """\
examples:
  cmt-bridge run --play midime --seconds 30 --record take.mid
  cmt-bridge run --midi-out "IAC Driver Bus 1" --follow-clock --midi-in "IAC Driver Bus 2"
  cmt-bridge run --set midime.temperature=0.8 --cc 21=midime.temperature
  cmt-bridge run --osc-host 0.0.0.0 --osc-allow 192.168.1.0/24     accept a tablet on the LAN
  cmt-bridge run --play cmt --do cmt.camera=0                        a camera's motion drives CMT
  cmt-bridge run --play cmt --do cmt.video=clip.mp4                  music in time with a video

Flags override the --config file (TOML; see docs/host.md). While it runs:
  oscsend localhost 9000 /cmt/tempo f 100     oscsend localhost 9000 /cmt/status
  oscdump 9001                                 see /cmt/note, /cmt/beat, /cmt/error, /cmt/status
"""


def _add_run(sub) -> None:
    r = sub.add_parser("run", help="start the host (MIDI out, OSC control, recording)",
                       description="Run the host: load the generators, open the MIDI port, listen for OSC.",
                       epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(r)
    r.set_defaults(func=_cmd_run)


def add_run_arguments(r: argparse.ArgumentParser) -> None:
    """The options of ``cmt-bridge run``, for a plugin command that starts the host preset (``cmt live``).

    One flag per host setting comes from :data:`bridge.config.SETTINGS`; the rest are not settings.
    """
    from .config import add_flags

    a = r.add_argument
    a("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more log output (-vv: debug)")
    a("--config", metavar="FILE.toml", help="settings file; flags override it")
    groups = add_flags(r)
    groups["MIDI"].add_argument("--no-record", action="store_true", help="do not record")
    r.add_argument("--do", action="append", metavar="GEN.ACTION[=ARG,...]",
                   help="run a generator action at launch, as its OSC address would (repeatable), "
                        "e.g. cmt.camera=0 or midime.sample=4; a comma inside an argument is written \\, "
                        "(cmt.video='take 1\\, final.mp4')")


def run_host(args) -> int:
    """Run the host from parsed ``run`` options (what ``cmt-bridge run`` does); ``args.actions`` may add
    (generator, action, [args]) to perform at launch without going through ``--do``'s text form."""
    return _cmd_run(args)


def _cmd_run(args) -> int:
    from .app import Bridge
    from .config import build_settings, flag_values

    settings = build_settings(args.config, **flag_values(args))
    if args.no_record:
        settings.record = None
    actions = [parse_do(d) for d in args.do or []] + list(getattr(args, "actions", []))
    bridge = Bridge(settings, actions=actions)
    code = bridge.run()
    stuck = bridge.host.busy() if bridge.host is not None else []
    if stuck:   # a thread still inside onnxruntime: interpreter teardown under it would abort (C++ terminate)
        import os

        log.warning("leaving %s busy: exiting without interpreter teardown", ", ".join(stuck))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def parse_do(item: str) -> tuple[str, str, list[str]]:
    """``"cmt.camera=0"`` -> ``("cmt", "camera", ["0"])`` (values are coerced by the action's params).

    Arguments are separated by commas; ``\\,`` is a comma inside an argument (a file name).
    """
    import re

    key, sep, value = item.partition("=")
    gen, dot, action = key.partition(".")
    if not dot or not gen.strip() or not action.strip():
        raise ConfigError(f"--do {item!r}: expected GENERATOR.ACTION or GENERATOR.ACTION=ARG[,ARG...]")
    parts = [v.replace("\\,", ",").strip() for v in re.split(r"(?<!\\),", value)] if sep and value else []
    return gen.strip(), action.strip(), parts


def _cmd_plugins(args) -> int:
    import json

    from .plugins import collect_generators, make_plugin_manager, plugin_of

    pm = make_plugin_manager()
    gens, errors = collect_generators(pm)
    if args.json:
        print(json.dumps({"generators": {n: {**c.describe(), "plugin": plugin_of(pm, n)} for n, c in sorted(gens.items())},
                          "errors": errors}, indent=2, default=str))
        return 0
    if not gens:
        print("no generators registered")
    for name, cls in sorted(gens.items()):
        print(f"{name}  ({plugin_of(pm, name)}){'  models: ' + ', '.join(cls.models) if cls.models else ''}")
        if cls.description:
            print(f"  {cls.description}")
        for p in cls.params:
            rng = f" {p.min}..{p.max}" if p.min is not None or p.max is not None else ""
            choice = f" one of {', '.join(p.choices)}" if p.choices else ""
            unit = f" {p.unit}" if p.unit else ""
            print(f"  param  {p.name:<12} {p.type.__name__}{rng}{choice}{unit}, default {p.default!r}  {p.doc}")
        for act in cls.actions:
            argtxt = " ".join(f"[{x.name}:{x.osc_type}]" for x in act.args)
            print(f"  action {act.name:<12} {argtxt}  {act.doc}")
    for e in errors:
        print(f"cmt-bridge: warning: {e}", file=sys.stderr)
    return 0


def _cmd_ports(args) -> int:
    from .midi_ports import list_ports

    ports = list_ports(args.api)
    for kind in ("outputs", "inputs"):
        print(f"MIDI {kind}:")
        for name in ports.get(kind, []):
            print(f"  {name}")
        if not ports.get(kind):
            print("  (none)")
    return 0


def _cmd_osc_schema(args) -> int:
    import json

    from .osc import OscSchema
    from .plugins import collect_generators, make_plugin_manager

    gens, errors = collect_generators(make_plugin_manager())
    for e in errors:
        print(f"cmt-bridge: warning: {e}", file=sys.stderr)
    schema = OscSchema(gens).describe()
    if args.markdown:
        print(schema_markdown(schema))
    else:
        print(json.dumps(schema, indent=args.indent, default=str))
    return 0


def schema_markdown(schema: dict) -> str:
    """The OSC table for the docs, from the same schema the host validates with."""
    rows = ["| direction | address | arguments | what it does |", "| --- | --- | --- | --- |"]
    for d in ("in", "out"):
        for a in schema[d]:
            args = []
            for x in a["args"]:
                rng = ""
                if x.get("choices"):
                    rng = " " + "\\|".join(x["choices"])
                elif x["min"] is not None or x["max"] is not None:
                    rng = f" {'' if x['min'] is None else x['min']}..{'' if x['max'] is None else x['max']}"
                text = f"{x['name']}:{x['osc_type']}{rng}"
                if x["optional"]:
                    text = f"[{text}]"
                if d == "in" and a["kind"] != "host" or x["optional"]:
                    text += f" ={x['default']!r}" if x["default"] != "" else ""
                args.append(text)
            rows.append(f"| {d} | `{a['address']}` | {' '.join(args) or '—'} | {a['doc']} |")
    return "\n".join(rows)


def _cmd_pianoroll(args) -> int:
    from .midifile import read_tracks
    from .pianoroll import render

    from .paths import output_path

    output_path(args.output, "-o")
    tracks = read_tracks(args.file)  # a colour and a legend entry per track (per channel in a recording)
    out = render(tracks, args.output, title=args.title or str(args.file))
    print(out)
    return 0


def _add_plugin_commands(sub) -> None:
    from .plugins import make_plugin_manager

    pm = make_plugin_manager()
    for impl in pm.hook.cmtbridge_add_commands.get_hookimpls():
        try:
            impl.function(subparsers=sub)
        except Exception as e:
            log.warning("plugin %s could not add its commands (%s)", impl.plugin_name, e)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cmt-bridge", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Play research music models live: ONNX generators streaming MIDI into your DAW "
                    "and OSC into Max/Pd, controlled by OSC and MIDI.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    p = sub.add_parser("plugins", help="list generators with their parameters and actions")
    p.add_argument("--json", action="store_true", help="machine-readable")
    p.set_defaults(func=_cmd_plugins)
    p = sub.add_parser("ports", help="list MIDI ports")
    p.add_argument("--api", default="auto", help="auto | jack | alsa | coremidi | winmm")
    p.set_defaults(func=_cmd_ports)
    p = sub.add_parser("osc-schema", help="print the OSC namespace as JSON (from the registered plugins)")
    p.add_argument("--indent", type=int, default=2)
    p.add_argument("--markdown", action="store_true", help="a Markdown table instead (for docs)")
    p.set_defaults(func=_cmd_osc_schema)
    p = sub.add_parser("pianoroll", help="draw a MIDI file as a piano-roll PNG",
                       epilog="example: cmt-bridge pianoroll recordings/take.mid -o take.png")
    p.add_argument("file", help="a .mid file")
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    p.add_argument("--title", help="default: the file name")
    p.set_defaults(func=_cmd_pianoroll)
    from .presets import add_commands as add_preset_commands

    add_preset_commands(sub)
    _add_plugin_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="cmt-bridge: %(levelname)s: %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BridgeError as e:
        print(f"cmt-bridge: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # `cmt-bridge osc-schema --markdown | head`: the reader has had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # no second traceback when Python flushes stdout at exit
        return 0
    except OSError as e:   # a path the OS refused after the checks (a full disk, a race): one line
        from .paths import os_reason

        print(f"cmt-bridge: error: {os_reason(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_commands(add_commands: Callable[[argparse._SubParsersAction], None],
                 argv: Sequence[str] | None = None) -> int:
    """Run one plugin's sub-commands without the rest of the CLI (``python -m plugins.<name>``):
    one-line errors, exit 2."""
    parser = argparse.ArgumentParser(prog="cmt-bridge")
    add_commands(parser.add_subparsers(dest="cmd", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BridgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        from .paths import os_reason

        print(f"error: {os_reason(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

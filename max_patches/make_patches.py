"""Write the Max patches and their Pd twins from the host's OSC schema, so they never drift from the code.

    python max_patches/make_patches.py                  # the shipped generators -> max_patches/*.maxpat, *.pd,
                                                        #   max_patches/live/cmt-bridge-<generator>.amxd
    python max_patches/make_patches.py --installed      # also installed / CMT_BRIDGE_PLUGINS plugins
    cmt-bridge osc-schema > s.json && python max_patches/make_patches.py --schema s.json -o /tmp/p

``cmt-bridge-web.maxpat`` shows the host's web page in ``[jweb]`` (web_layout.py); the page's
own copy of the visuals shader, ``bridge/static/visuals.frag``, is written here too (into the
package, when the output is the default max_patches/ folder).
Every control is laid out from ``cmt-bridge osc-schema``: a slider and a number box
per parameter (the schema's range, default and unit), a button or message per
action; and one Max for Live device per generator (live_layout.py, amxd.py).
tests/test_patches.py and tests/test_live_devices.py check the committed files equal this script's
output, and checks every OSC address, type and range in them against the schema.
Edit this script (and max_patches/*_layout.py), never the generated patches.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import amxd  # noqa: E402
from control_layout import max_control, pd_control  # noqa: E402
from live_layout import device_file, max_device  # noqa: E402
from notes_layout import max_notes, pd_notes  # noqa: E402
from visuals_layout import JXS, has_visuals, max_visuals, pd_visuals  # noqa: E402
from web_layout import max_web  # noqa: E402

FILES = ("cmt-bridge-control.maxpat", "cmt-bridge-notes.maxpat", "cmt-bridge-control.pd", "cmt-bridge-notes.pd",
         "cmt-bridge-web.maxpat", "cmt-bridge-visuals.maxpat", "cmt-bridge-visuals.pd")
SHADERS = (JXS,)              # written with the patches (the Jitter patch loads it), not a patch itself
WEB_SHADER = HERE.parent / "bridge" / "static" / "visuals.frag"   # the web page's visuals card draws it
LIVE = "live"                 # the devices' folder under the output folder (with cmt_clips.js, not generated)


def shipped_schema(installed: bool = False) -> dict:
    """The schema of the built-in generators (``installed``: plus entry points and CMT_BRIDGE_PLUGINS)."""
    sys.path.insert(0, str(HERE.parent))
    from bridge.osc import OscSchema
    from bridge.plugins import builtin_plugins, collect_generators, make_plugin_manager

    if installed:
        pm = make_plugin_manager()
    else:
        saved = {k: os.environ.pop(k) for k in ("CMT_BRIDGE_PLUGINS", "CMT_BRIDGE_DISABLE") if k in os.environ}
        try:
            pm = make_plugin_manager(extra=builtin_plugins(), entry_points=False)
        finally:
            os.environ.update(saved)
    gens, errors = collect_generators(pm)
    for e in errors:
        print(f"make_patches: warning: {e}", file=sys.stderr)
    # one JSON round trip: the patches are made from exactly what `cmt-bridge osc-schema` prints
    return json.loads(json.dumps(OscSchema(gens).describe(), default=str))


def render(schema: dict) -> dict[str, str]:
    """File name -> text of every patch (the web one: a jweb showing ``cmt-bridge run --web``'s page; the
    visuals ones, and the Jitter shader, when the schema has visuals)."""
    out = {
        "cmt-bridge-control.maxpat": max_control(schema).dumps(),
        "cmt-bridge-notes.maxpat": max_notes(schema).dumps(),
        "cmt-bridge-control.pd": pd_control(schema).dumps(),
        "cmt-bridge-notes.pd": pd_notes(schema).dumps(),
        "cmt-bridge-web.maxpat": max_web(schema).dumps(),
    }
    if has_visuals(schema):
        sys.path.insert(0, str(HERE.parent))
        from plugins.visuals.shader import jitter_shader

        out |= {"cmt-bridge-visuals.maxpat": max_visuals(schema).dumps(),
                "cmt-bridge-visuals.pd": pd_visuals(schema).dumps(), JXS: jitter_shader()}
    return out


def render_devices(schema: dict) -> dict[str, bytes]:
    """File name (under live/) -> bytes of each generator's Max for Live device (.amxd)."""
    return {device_file(name): amxd.pack(max_device(schema, name)) for name in sorted(schema["generators"])}


def write(schema: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render(schema).items():
        path = out / name
        path.write_text(text)
        written.append(path)
    live = out / LIVE
    live.mkdir(exist_ok=True)
    devices = render_devices(schema)
    for stale in sorted(set(p.name for p in live.glob("*.amxd")) - set(devices)):
        (live / stale).unlink()          # a generator that left the schema takes its device along
        print(f"make_patches: removed {live / stale}", file=sys.stderr)
    for name, data in devices.items():
        path = live / name
        path.write_bytes(data)
        written.append(path)
    script = HERE / LIVE / "cmt_clips.js"
    if live.resolve() != script.parent:
        (live / script.name).write_text(script.read_text())
        written.append(live / script.name)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate the cmt-bridge Max/Pd patches from the OSC schema.")
    p.add_argument("--schema", type=Path, help="a JSON file from `cmt-bridge osc-schema` (default: built-ins)")
    p.add_argument("--installed", action="store_true", help="include installed / CMT_BRIDGE_PLUGINS plugins")
    p.add_argument("-o", "--out", type=Path, default=HERE, help="output folder (default: max_patches/)")
    args = p.parse_args(argv)
    schema = json.loads(args.schema.read_text()) if args.schema else shipped_schema(args.installed)
    for path in write(schema, args.out):
        print(path)
    if args.out.resolve() == HERE:
        sys.path.insert(0, str(HERE.parent))
        from plugins.visuals.shader import webgl_shader

        WEB_SHADER.write_text(webgl_shader())
        print(WEB_SHADER)
    return 0


if __name__ == "__main__":
    sys.exit(main())

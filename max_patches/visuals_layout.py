"""The visuals patches: a Jitter patch running the visuals shader in ``jit.gl.slab``, and its Pd twin.

Both receive what the live "visuals" generator sends every frame (see the schema's
out table)::

    /cmt/visuals/params  f*12   shape_a (4), shape_b (4), phase, zoom, rotation, warp
    /cmt/visuals/pulse   f
    /cmt/visuals/palette f*12   pal_a, pal_b, pal_c, pal_d (rgb each)

Max: ``[udpreceive 9001]`` -> ``[route ...]`` -> ``[unpack]`` -> ``[pack]`` per uniform ->
``[prepend param <uniform>]`` -> ``[jit.gl.slab @file cmt-visuals.jxs]``, drawn each
``[qmetro]`` tick on a ``[jit.gl.videoplane]`` in ``[jit.window]``. The .jxs is written
next to the patch from :func:`plugins.visuals.shader.jitter_shader` (the same GLSL as
``cmt-bridge visualize``). Pd (vanilla, no GEM needed): the same routing to number
boxes, ``[print cmt-visuals-<message>]`` and ``[s cmt-visuals-<uniform>]`` for a GEM
or ofelia patch to pick up.
"""
from __future__ import annotations

from control_layout import HEADER, REPLY
from maxpat import MaxPatch
from pdpatch import PdPatch

MESSAGES = ("params", "pulse", "palette")
#: the uniforms each message carries, in order: (uniform name, number of floats)
UNIFORMS = {"params": (("shape_a", 4), ("shape_b", 4), ("phase", 1), ("zoom", 1), ("rotation", 1), ("warp", 1)),
            "pulse": (("pulse", 1),),
            "palette": (("pal_a", 3), ("pal_b", 3), ("pal_c", 3), ("pal_d", 3))}
JXS = "cmt-visuals.jxs"
SIZE = 512


def has_visuals(schema: dict) -> bool:
    addresses = {a["address"] for a in schema["out"]}
    return all(f"/cmt/visuals/{m}" in addresses for m in MESSAGES)


def max_visuals(schema: dict) -> MaxPatch:
    if not has_visuals(schema):
        raise KeyError("the schema has no /cmt/visuals/params, /pulse, /palette (visuals generator not loaded)")
    m = MaxPatch("cmt-bridge visuals (Jitter)", rect=(60.0, 100.0, 1100.0, 700.0))
    m.comment("cmt-bridge visuals", 20, 12, bold=True, size=18.0)
    m.comment(HEADER, 20, 42)
    m.comment(f"start: /cmt/visuals/file <path> or /cmt/visuals/listen (control patch); the shader is {JXS}",
              20, 90, 620)
    udp = m.obj(f"udpreceive {REPLY}", 20, 120)
    route = m.obj("route " + " ".join(f"/cmt/visuals/{x}" for x in MESSAGES), 20, 150, 480)
    m.connect(udp, 0, route)
    slab = m.obj(f"jit.gl.slab cmt-visuals @file {JXS} @dim {SIZE} {SIZE}", 20, 560, 360)
    for k, message in enumerate(MESSAGES):
        uniforms = UNIFORMS[message]
        n = sum(size for _, size in uniforms)
        x0 = 20 + k * 360
        m.comment(f"/cmt/visuals/{message}: {n} float(s)", x0, 184, 330)
        unpack = m.obj("unpack " + " ".join(["f"] * n), x0, 210, max(60, 24 * n))
        m.connect(route, k, unpack)
        at = 0
        for j, (uniform, size) in enumerate(uniforms):
            y = 250 + 70 * (j % 3)
            x = x0 + 120 * (j // 3)
            prepend = m.obj(f"prepend param {uniform}", x, y + 30)
            if size == 1:
                m.connect(unpack, at, prepend)
            else:
                pack = m.obj("pack " + " ".join(["0."] * size), x, y, 100)
                for i in range(size):
                    m.connect(unpack, at + i, pack, i)
                m.connect(pack, 0, prepend)
            m.connect(prepend, 0, slab)
            at += size
    m.comment("draw: toggle on", 20, 470)
    on = m.add("toggle", 20, 494, 24, 24)
    metro = m.obj("qmetro 16", 60, 494)
    m.connect(on, 0, metro)
    order = m.obj("t b b b", 60, 524)
    m.connect(metro, 0, order)
    erase = m.msg("erase", 200, 524)
    render = m.obj("jit.gl.render cmt-visuals", 200, 600, 180)
    texture = m.obj(f"jit.gl.texture cmt-visuals @dim {SIZE} {SIZE}", 420, 524, 260)
    m.connect(order, 2, erase), m.connect(erase, 0, render)
    m.connect(order, 1, texture), m.connect(texture, 0, slab)
    plane = m.obj("jit.gl.videoplane cmt-visuals @transform_reset 2", 20, 600, 170)
    m.connect(slab, 0, plane)
    m.connect(order, 0, render)
    m.obj(f"jit.window cmt-visuals @size {SIZE} {SIZE}", 420, 600, 260)
    return m


def pd_visuals(schema: dict) -> PdPatch:
    if not has_visuals(schema):
        raise KeyError("the schema has no /cmt/visuals/params, /pulse, /palette (visuals generator not loaded)")
    pd = PdPatch(size=(1100, 560))
    pd.comment("cmt-bridge visuals (Pd twin of cmt-bridge-visuals.maxpat): the shader's parameters", 20, 10)
    pd.comment(HEADER.replace("\n", " "), 20, 30)
    pd.comment("[r cmt-visuals-<uniform>] anywhere (GEM, ofelia) gets each uniform as a float or list; "
               "[s cmt-visuals-listen] <port> changes the UDP port (0 = off)", 20, 50)
    load = pd.obj("loadbang", 20, 80)
    listen = pd.msg(f"listen {REPLY}", 20, 106)
    hook = pd.obj("r cmt-visuals-listen", 160, 80)
    hook_m = pd.msg("listen $1", 160, 106)
    pd.connect(load, 0, listen), pd.connect(hook, 0, hook_m)
    recv = pd.obj("netreceive -u -b", 20, 136)
    pd.connect(listen, 0, recv), pd.connect(hook_m, 0, recv)
    parse = pd.obj("oscparse", 20, 162)
    trim = pd.obj("list trim", 20, 188)
    pd.connect(recv, 0, parse), pd.connect(parse, 0, trim)
    rcmt = pd.obj("route cmt", 20, 214)
    rvis = pd.obj("route visuals", 20, 240)
    pd.connect(trim, 0, rcmt), pd.connect(rcmt, 0, rvis)
    rmsg = pd.obj("route " + " ".join(MESSAGES), 20, 266)
    pd.connect(rvis, 0, rmsg)
    for k, message in enumerate(MESSAGES):
        x = 20 + k * 360
        uniforms = UNIFORMS[message]
        n = sum(size for _, size in uniforms)
        lst = pd.obj("list", x, 300)
        pd.connect(rmsg, k, lst)
        pd.connect(lst, 0, pd.obj(f"print cmt-visuals-{message}", x + 60, 330))
        unpack = pd.obj("unpack " + " ".join(["f"] * n), x, 330 + 30)
        pd.connect(lst, 0, unpack)
        at = 0
        for j, (uniform, size) in enumerate(uniforms):
            y = 400 + 40 * j
            if size == 1:
                box = pd.atom("5 0 0 0 - - -", x, y)
                pd.connect(unpack, at, box)
                pd.connect(unpack, at, pd.obj(f"s cmt-visuals-{uniform}", x + 60, y))
            else:
                pack = pd.obj("pack " + " ".join(["f"] * size), x, y)
                for i in range(size):
                    pd.connect(unpack, at + i, pack, i)
                pd.connect(pack, 0, pd.obj(f"s cmt-visuals-{uniform}", x + 140, y))
            at += size
    return pd

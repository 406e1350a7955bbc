"""The notes player, as a Max patch and a Pd twin: /cmt/note -> MIDI out and a small polyphonic synth.

``/cmt/note <generator> <pitch> <velocity> <duration_ms> <channel>`` arrives
from ``[udpreceive 9001]`` (or, when the control patch owns that port, from
``[r cmt-bridge-in]``), goes to makenote -> noteout (channel 1..16) and to
``[poly 4 1]`` -> four voices of saw + ADSR -> dac~.
"""
from __future__ import annotations

from control_layout import FORWARD, HEADER, REPLY, _in
from maxpat import MaxPatch
from pdpatch import PdPatch, hsl

VOICES = 4


def _note_args(schema: dict) -> list[str]:
    out = next(a for a in schema["out"] if a["address"] == "/cmt/note")
    return [a["name"] for a in out["args"]]


def max_notes(schema: dict) -> MaxPatch:
    _note_args(schema)   # the schema must have /cmt/note
    m = MaxPatch("cmt-bridge notes player", rect=(60.0, 100.0, 900.0, 640.0))
    m.comment("cmt-bridge notes", 20, 12, bold=True, size=18.0)
    m.comment(HEADER, 20, 42)
    m.comment(f"UDP port (0 = off: notes come from the control patch via [r {FORWARD}])", 20, 90, 420)
    port = m.add("number", 20, 112, 60, minimum=0, maximum=65535)
    m.connect(m.obj(f"loadmess set {REPLY}", 90, 112), 0, port)
    pre = m.obj("prepend port", 20, 138)
    m.connect(port, 0, pre)
    udp = m.obj(f"udpreceive {REPLY}", 20, 164)
    m.connect(pre, 0, udp)
    fwd = m.obj(f"r {FORWARD}", 200, 164)
    route = m.obj("route /cmt/note", 20, 196)
    m.connect(udp, 0, route), m.connect(fwd, 0, route)
    unpack = m.obj("unpack s i i i i", 20, 226, 200)
    m.connect(route, 0, unpack)
    m.comment("generator  pitch  velocity  duration_ms  channel", 20, 250, 320)
    gen = m.obj("prepend set", 20, 276)
    m.connect(unpack, 0, gen)
    m.connect(gen, 0, m.msg("", 20, 302, 100))
    m.comment("last generator", 125, 302)

    m.comment("MIDI out (choose the port by double-clicking noteout)", 20, 340, 330)
    makenote = m.obj("makenote 100 500", 20, 366, 200)
    m.connect(unpack, 1, makenote, 0), m.connect(unpack, 2, makenote, 1), m.connect(unpack, 3, makenote, 2)
    noteout = m.obj("noteout", 20, 400, 200)
    m.connect(makenote, 0, noteout, 0), m.connect(makenote, 1, noteout, 1), m.connect(unpack, 4, noteout, 2)

    m.comment(f"synth: {VOICES} voices of saw~ with adsr~", 400, 340, 300)
    poly = m.obj(f"poly {VOICES} 1", 400, 366, 120)
    m.connect(makenote, 0, poly, 0), m.connect(makenote, 1, poly, 1)
    pack = m.obj("pack 0 0 0", 400, 392, 120)
    for i in range(3):
        m.connect(poly, i, pack, i)
    voices = m.obj("route " + " ".join(str(v + 1) for v in range(VOICES)), 400, 418, 200)
    m.connect(pack, 0, voices)
    master = m.obj("*~ 0.15", 400, 590)
    for v in range(VOICES):
        x = 400 + v * 110
        vu = m.obj("unpack 0 0", x, 448, 70)
        m.connect(voices, v, vu)
        mtof = m.obj("mtof", x, 474)
        saw = m.obj("saw~", x, 500)
        m.connect(vu, 0, mtof), m.connect(mtof, 0, saw)
        vel = m.obj("/ 127.", x + 40, 474)
        env = m.obj("adsr~ 5 80 0.6 250", x + 40, 500, 60)
        m.connect(vu, 1, vel), m.connect(vel, 0, env)
        amp = m.obj("*~", x, 540)
        m.connect(saw, 0, amp, 0), m.connect(env, 0, amp, 1)
        m.connect(amp, 0, master)
    gain = m.add("flonum", 470, 566, 60, format=6, minimum=0.0, maximum=1.0)
    m.comment("volume 0..1", 535, 566)
    m.connect(m.obj("loadmess set 0.15", 560, 590), 0, gain)
    m.connect(gain, 0, master, 1)
    dac = m.obj("dac~", 400, 620)
    m.connect(master, 0, dac, 0), m.connect(master, 0, dac, 1)
    m.add("ezdac~", 20, 440, 45, 45)
    m.comment("audio on / off", 70, 452)
    return m


def pd_notes(schema: dict) -> PdPatch:
    _note_args(schema)
    pd = PdPatch(size=(900, 640))
    pd.comment("cmt-bridge notes (Pd twin of cmt-bridge-notes.maxpat)", 20, 10)
    pd.comment(HEADER.replace("\n", " "), 20, 30)
    pd.comment(f"UDP port: listen 0 = off (notes then come from the control patch via [r {FORWARD}])", 20, 60)
    load = pd.obj("loadbang", 20, 90)
    listen = pd.msg(f"listen {REPLY}", 20, 116)
    off = pd.msg("listen 0", 120, 116)
    hook = pd.obj("r cmt-notes-listen", 220, 90)
    hook_m = pd.msg("listen $1", 220, 116)
    pd.connect(load, 0, listen), pd.connect(hook, 0, hook_m)
    recv = pd.obj("netreceive -u -b", 20, 146)
    for box in (listen, off, hook_m):
        pd.connect(box, 0, recv)
    parse = pd.obj("oscparse", 20, 172)
    trim = pd.obj("list trim", 20, 198)
    pd.connect(recv, 0, parse), pd.connect(parse, 0, trim)
    rcmt = pd.obj("route cmt", 20, 230)
    pd.connect(trim, 0, rcmt), pd.connect(pd.obj(f"r {FORWARD}", 120, 198), 0, rcmt)
    rnote = pd.obj("route note", 20, 256)
    pd.connect(rcmt, 0, rnote)
    lst = pd.obj("list", 20, 282)
    pd.connect(rnote, 0, lst)
    shown = pd.obj("list trim", 120, 282)
    pd.connect(lst, 0, shown), pd.connect(shown, 0, pd.obj("print cmt-note", 200, 282))
    unpack = pd.obj("unpack s f f f f", 20, 308)
    pd.connect(lst, 0, unpack)
    pd.comment("generator pitch velocity duration_ms channel", 20, 332)
    makenote = pd.obj("makenote 100 500", 20, 370)
    pd.connect(unpack, 1, makenote, 0), pd.connect(unpack, 2, makenote, 1), pd.connect(unpack, 3, makenote, 2)
    noteout = pd.obj("noteout", 20, 410)
    pd.connect(makenote, 0, noteout, 0), pd.connect(makenote, 1, noteout, 1), pd.connect(unpack, 4, noteout, 2)
    pd.comment("MIDI out: Pd's MIDI settings choose the port", 20, 436)

    pd.comment(f"synth: {VOICES} voices of phasor~ (saw) with a vline~ envelope", 400, 340)
    poly = pd.obj(f"poly {VOICES} 1", 400, 366)
    pd.connect(makenote, 0, poly, 0), pd.connect(makenote, 1, poly, 1)
    pack = pd.obj("pack f f f", 400, 392)
    for i in range(3):
        pd.connect(poly, i, pack, i)
    voices = pd.obj("route " + " ".join(str(v + 1) for v in range(VOICES)), 400, 418)
    pd.connect(pack, 0, voices)
    master = pd.obj("*~ 0.15", 400, 600)
    for v in range(VOICES):
        x = 400 + v * 120
        vu = pd.obj("unpack f f", x, 448)
        pd.connect(voices, v, vu)
        mtof = pd.obj("mtof", x, 474)
        saw = pd.obj("phasor~", x, 500)
        pd.connect(vu, 0, mtof), pd.connect(mtof, 0, saw)
        sel = pd.obj("sel 0", x + 50, 474)
        pd.connect(vu, 1, sel)
        release = pd.msg("0 250", x + 50, 500)
        scale = pd.obj("/ 127", x + 90, 500)
        attack = pd.msg("$1 5", x + 90, 526)
        pd.connect(sel, 0, release), pd.connect(sel, 1, scale), pd.connect(scale, 0, attack)
        env = pd.obj("vline~", x + 50, 552)
        pd.connect(release, 0, env), pd.connect(attack, 0, env)
        amp = pd.obj("*~", x, 576)
        pd.connect(saw, 0, amp, 0), pd.connect(env, 0, amp, 1)
        pd.connect(amp, 0, master)
    gain = pd.obj(hsl("volume", 0, 1, 120), 560, 600)
    lb = pd.obj("loadbang", 700, 570)
    gset = pd.msg("set 0.15", 700, 596)
    pd.connect(lb, 0, gset), pd.connect(gset, 0, gain), pd.connect(gain, 0, master, 1)
    dac = pd.obj("dac~", 400, 630)
    pd.connect(master, 0, dac, 0), pd.connect(master, 0, dac, 1)
    return pd


__all__ = ["max_notes", "pd_notes", "_in"]

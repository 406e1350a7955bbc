"""The default image generator: one GLSL fragment shader (domain-warped fBm, a cosine palette).

The picture is a function of one parameter vector and nothing else (no time,
no randomness), so the same vector always gives the same picture, and nearby
vectors give nearby pictures: every uniform enters through smooth functions
(value noise with a smoothstep fade, sines, a cosine palette).

Inigo Quilez's "warping" construction: ``f(p + w * r(p + w * q(p)))`` with
fBm for ``f``, ``q``, ``r``; the eight ``shape`` numbers offset the noise
fields of ``q`` and ``r`` (what the picture looks like), ``phase`` slides
them (motion), ``pulse`` zooms in and brightens (the beat), ``zoom``,
``rotation`` and ``warp`` frame it, and the palette ``a + b cos(2 pi (c t + d))``
colours it.

:data:`FRAGMENT` is GLSL 3.30 for moderngl; :func:`jitter_shader` wraps the same
code for Max's ``jit.gl.slab`` (a .jxs file), so a Jitter patch driven by the
OSC parameters draws the same pictures; :func:`webgl_shader` wraps it in GLSL ES
1.00 for the web page's visuals card (``bridge/static/visuals.frag``, written by
``python max_patches/make_patches.py``; a drift test keeps it equal).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the layout of one frame's parameter vector (:data:`N_PARAMS` floats)
SHAPE = slice(0, 8)          # [-1, 1] each: where the noise fields sit (the "class" of the picture)
PHASE, PULSE, ZOOM, ROTATION, WARP = 8, 9, 10, 11, 12
PALETTE = slice(13, 25)      # a (rgb), b (rgb), c (rgb), d (rgb) of the cosine palette
N_PARAMS = 25
#: what /cmt/visuals/params carries (shape[8], phase, zoom, rotation, warp): 12 floats
SCENE = (*range(8), PHASE, ZOOM, ROTATION, WARP)

VERTEX = """#version 330
in vec2 pos;
void main() { gl_Position = vec4(pos, 0.0, 1.0); }
"""

#: the body shared by moderngl and Jitter (uniform declarations are added per target)
BODY = """
vec3 palette(float t) { return pal_a + pal_b * cos(6.28318 * (pal_c * t + pal_d)); }
float hash(vec2 p) {
    vec3 p3 = fract(vec3(p.xyx) * 0.1031);
    p3 += dot(p3, p3.yzx + 33.33);
    return fract((p3.x + p3.y) * p3.z);
}
float noise(vec2 p) {
    vec2 i = floor(p), f = fract(p);
    vec2 u = f * f * (3.0 - 2.0 * f);
    return mix(mix(hash(i), hash(i + vec2(1.0, 0.0)), u.x),
               mix(hash(i + vec2(0.0, 1.0)), hash(i + vec2(1.0, 1.0)), u.x), u.y);
}
float fbm3(vec2 p) {   // three octaves: the warp fields (their finest detail is folded away)
    mat2 m = mat2(0.8, 0.6, -0.6, 0.8);
    float s = 0.5 * noise(p); p = m * p * 2.02;
    s += 0.25 * noise(p); p = m * p * 2.03;
    return (s + 0.125 * noise(p)) / 0.875;
}
float fbm4(vec2 p) {   // four octaves: the picture itself
    mat2 m = mat2(0.8, 0.6, -0.6, 0.8);
    float s = 0.5 * noise(p); p = m * p * 2.02;
    s += 0.25 * noise(p); p = m * p * 2.03;
    s += 0.125 * noise(p); p = m * p * 2.01;
    return (s + 0.0625 * noise(p)) / 0.9375;
}
vec3 picture(vec2 frag, vec2 res) {
    vec2 uv = (frag - 0.5 * res) / res.y;
    float c = cos(rotation), s = sin(rotation);
    vec2 p = mat2(c, -s, s, c) * uv * zoom * (1.0 - 0.10 * pulse);
    vec2 q = vec2(fbm3(p + 1.5 * shape_a.xy + 0.11 * phase),
                  fbm3(p + 1.5 * shape_a.zw + vec2(5.2, 1.3) - 0.09 * phase));
    vec2 r = vec2(fbm3(p + warp * q + 1.5 * shape_b.xy + vec2(1.7, 9.2) + 0.15 * phase),
                  fbm3(p + warp * q + 1.5 * shape_b.zw + vec2(8.3, 2.8) - 0.126 * phase));
    float f = fbm4(p + warp * r);
    vec3 col = palette(f + 0.35 * length(q) + 0.2 * r.x);
    col *= 0.55 + 0.9 * f * f + 0.30 * pulse;
    col = mix(col, palette(0.5 + r.y), 0.25 * dot(q, q));
    col *= 1.0 - 0.35 * dot(uv, uv);
    return clamp(col, 0.0, 1.0);
}
"""

UNIFORMS = """uniform vec2 resolution;
uniform vec4 shape_a;
uniform vec4 shape_b;
uniform float phase;
uniform float pulse;
uniform float zoom;
uniform float rotation;
uniform float warp;
uniform vec3 pal_a;
uniform vec3 pal_b;
uniform vec3 pal_c;
uniform vec3 pal_d;
"""

FRAGMENT = "#version 330\n" + UNIFORMS + "out vec4 frag_color;\n" + BODY + """
void main() { frag_color = vec4(picture(gl_FragCoord.xy, resolution), 1.0); }
"""


@dataclass(frozen=True)
class Uniforms:
    """One frame's parameter vector as the shader's uniforms."""

    values: dict

    @classmethod
    def of(cls, vector: np.ndarray) -> "Uniforms":
        v = np.asarray(vector, np.float64).reshape(-1)
        if len(v) != N_PARAMS:
            raise ValueError(f"a frame has {N_PARAMS} parameters, got {len(v)}")
        pal = v[PALETTE]
        return cls({"shape_a": tuple(v[0:4]), "shape_b": tuple(v[4:8]), "phase": float(v[PHASE]),
                    "pulse": float(v[PULSE]), "zoom": float(v[ZOOM]), "rotation": float(v[ROTATION]),
                    "warp": float(v[WARP]), "pal_a": tuple(pal[0:3]), "pal_b": tuple(pal[3:6]),
                    "pal_c": tuple(pal[6:9]), "pal_d": tuple(pal[9:12])})


def jitter_shader() -> str:
    """The same picture as a Jitter shader (.jxs) for ``jit.gl.slab``; its params are the uniforms above."""
    defaults = {"shape_a": "0 0 0 0", "shape_b": "0 0 0 0", "phase": "0", "pulse": "0", "zoom": "1.8",
                "rotation": "0", "warp": "3", "pal_a": "0.5 0.5 0.5", "pal_b": "0.5 0.5 0.5",
                "pal_c": "1 1 1", "pal_d": "0 0.33 0.67"}
    types = {"shape_a": "vec4", "shape_b": "vec4", "pal_a": "vec3", "pal_b": "vec3", "pal_c": "vec3", "pal_d": "vec3"}
    params = "\n".join(f'\t<param name="{n}" type="{types.get(n, "float")}" default="{d}" />'
                       for n, d in defaults.items())
    binds = "\n".join(f'\t\t<bind param="{n}" program="fp" />' for n in defaults)
    fragment = ("uniform vec2 texdim0;\n" + UNIFORMS.replace("uniform vec2 resolution;\n", "") + BODY
                + "\nvoid main() { gl_FragColor = vec4(picture(gl_FragCoord.xy, texdim0), 1.0); }\n")
    return f"""<jittershader name="cmt-visuals">
\t<description>cmt-bridge visuals: domain-warped fBm with a cosine palette (plugins/visuals/shader.py)</description>
{params}
\t<param name="texdim0" type="vec2" state="TEXDIM0" />
\t<language name="glsl" version="1.2">
{binds}
\t\t<bind param="texdim0" program="fp" />
\t\t<program name="vp" type="vertex">
<![CDATA[
void main() {{ gl_Position = ftransform(); }}
]]>
\t\t</program>
\t\t<program name="fp" type="fragment">
<![CDATA[
{fragment}]]>
\t\t</program>
\t</language>
</jittershader>
"""


def webgl_shader() -> str:
    """The same picture as a WebGL (GLSL ES 1.00) fragment shader: the web page's ``visuals.frag``.

    The host never imports plugins, so the page reads a generated copy (``bridge/static/visuals.frag``);
    ``tests/test_web.py`` fails when it differs from this text."""
    return ("// generated from plugins/visuals/shader.py by max_patches/make_patches.py: do not edit\n"
            "precision highp float;\n" + UNIFORMS + BODY
            + "\nvoid main() { gl_FragColor = vec4(picture(gl_FragCoord.xy, resolution), 1.0); }\n")

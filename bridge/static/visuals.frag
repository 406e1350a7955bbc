// generated from plugins/visuals/shader.py by max_patches/make_patches.py: do not edit
precision highp float;
uniform vec2 resolution;
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

void main() { gl_FragColor = vec4(picture(gl_FragCoord.xy, resolution), 1.0); }

// The visuals card's picture: the visuals plugin's own GLSL fragment shader (/static/visuals.frag,
// generated from plugins/visuals/shader.py by max_patches/make_patches.py) drawn in WebGL from the
// uniforms the host sends every frame: /params (shape[8], phase, zoom, rotation, warp), /pulse (0..1)
// and /palette (cosine palette a, b, c, d: rgb each). The picture is a function of these 25 numbers
// only, as in `cmt-bridge visualize` and Jitter. Drawn at most once per animation frame (the page's
// frame rate), and only when a value changed. Without WebGL, create() returns null and the card says so.
"use strict";

(() => {
const VERTEX = "attribute vec2 pos; void main() { gl_Position = vec4(pos, 0.0, 1.0); }";
const MAX_WIDTH = 640;   // drawing-buffer pixels: a software renderer (no GPU) keeps the frame rate
// the Jitter shader's defaults (plugins/visuals/shader.py jitter_shader): the picture before any frame
const DEFAULTS = {shape_a: [0, 0, 0, 0], shape_b: [0, 0, 0, 0], phase: 0, pulse: 0, zoom: 1.8, rotation: 0, warp: 3,
                  pal_a: [0.5, 0.5, 0.5], pal_b: [0.5, 0.5, 0.5], pal_c: [1, 1, 1], pal_d: [0, 0.33, 0.67]};

function compile(gl, type, text) {
  const s = gl.createShader(type);
  gl.shaderSource(s, text);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error("visuals shader: " + gl.getShaderInfoLog(s));
  return s;
}

class Picture {
  constructor(canvas, gl, fragment) {
    this.canvas = canvas;
    this.gl = gl;
    this.frames = 0;          // frames drawn
    this.received = 0;        // messages taken
    this.size = null;         // fixed [w, h] drawing buffer (tests), else follows the canvas' CSS size
    this.values = JSON.parse(JSON.stringify(DEFAULTS));
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, fragment));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error("visuals shader: " + gl.getProgramInfoLog(prog));
    gl.useProgram(prog);
    this.prog = prog;
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const pos = gl.getAttribLocation(prog, "pos");
    gl.enableVertexAttribArray(pos);
    gl.vertexAttribPointer(pos, 2, gl.FLOAT, false, 0, 0);
    this.where = {};
    for (const name of ["resolution", ...Object.keys(DEFAULTS)]) this.where[name] = gl.getUniformLocation(prog, name);
    this.dirty = true;
    this.later();
  }

  // one host message: what = "params" | "pulse" | "palette", args = its floats
  take(what, args) {
    const v = args.map(Number), u = this.values;
    if (what === "params" && v.length === 12) {
      u.shape_a = v.slice(0, 4); u.shape_b = v.slice(4, 8);
      [u.phase, u.zoom, u.rotation, u.warp] = v.slice(8, 12);
    } else if (what === "pulse" && v.length === 1) {
      u.pulse = Math.min(1, Math.max(0, v[0]));
    } else if (what === "palette" && v.length === 12) {
      [u.pal_a, u.pal_b, u.pal_c, u.pal_d] = [v.slice(0, 3), v.slice(3, 6), v.slice(6, 9), v.slice(9, 12)];
    } else return false;
    this.received += 1;
    this.dirty = true;
    this.later();
    return true;
  }

  later() {
    if (!this.queued) { this.queued = true; requestAnimationFrame(() => { this.queued = false; this.draw(); }); }
  }

  resize() {
    const c = this.canvas;
    const [w, h] = this.size || (() => {
      const scale = Math.min(window.devicePixelRatio || 1, 1.5), width = Math.min(MAX_WIDTH, c.clientWidth * scale);
      return [Math.max(16, Math.round(width)), Math.max(9, Math.round(width * c.clientHeight / Math.max(1, c.clientWidth)))];
    })();
    if (c.width !== w || c.height !== h) { c.width = w; c.height = h; this.dirty = true; }
  }

  draw() {
    this.resize();
    if (!this.dirty) return;
    const gl = this.gl, u = this.values, at = this.where;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.uniform2f(at.resolution, this.canvas.width, this.canvas.height);
    gl.uniform4fv(at.shape_a, u.shape_a); gl.uniform4fv(at.shape_b, u.shape_b);
    for (const k of ["phase", "pulse", "zoom", "rotation", "warp"]) gl.uniform1f(at[k], u[k]);
    for (const k of ["pal_a", "pal_b", "pal_c", "pal_d"]) gl.uniform3fv(at[k], u[k]);
    gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    this.dirty = false;
    this.frames += 1;
  }

  // the drawing buffer as RGB rows, top row first (tests compare it with the plugin's own renderer)
  pixels() {
    this.draw();
    const gl = this.gl, w = this.canvas.width, h = this.canvas.height, rgba = new Uint8Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, rgba);
    const rgb = [];
    for (let y = h - 1; y >= 0; y--) for (let x = 0; x < w; x++) rgb.push(...rgba.subarray((y * w + x) * 4, (y * w + x) * 4 + 3));
    return {width: w, height: h, rgb};
  }
}

// The picture on `canvas`, or null when this browser has no WebGL (the caller says so on the card).
async function create(canvas, shaderUrl) {
  const gl = canvas.getContext("webgl", {preserveDrawingBuffer: true, antialias: false});
  if (!gl) return null;
  const res = await fetch(shaderUrl);
  if (!res.ok) throw new Error(`visuals shader: ${res.status} ${await res.text()}`);
  return new Picture(canvas, gl, await res.text());
}

window.cmtVisuals = {create, DEFAULTS};
})();

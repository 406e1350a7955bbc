// A live piano roll: /cmt/note messages scroll from right (now) to left, one colour per MIDI channel
// (the palette of the host's piano-roll PNGs). Frame times are kept for the benchmark (window.cmtRoll.stats()).
"use strict";

class PianoRoll {
  constructor(canvas, palette) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.palette = palette && palette.length ? palette : ["#1f77b4"];
    this.windowMs = 8000;          // visible history
    this.notes = [];               // {pitch, velocity, channel, t0, t1} in performance.now() ms
    this.beats = [];               // arrival times of /cmt/beat
    this.lo = 48; this.hi = 84;    // pitch range shown (follows what plays)
    this.frameTimes = [];          // rAF timestamps (ms), last 2000
    this.drawMs = [];              // time spent drawing each frame (ms), last 2000
    this.channels = new Set();
    this.received = 0;             // notes received since the page opened
    this.onChannels = null;
    this.resize();
    window.addEventListener("resize", () => this.resize());
    requestAnimationFrame((t) => this.frame(t));
  }

  colour(channel) { return this.palette[(channel - 1 + this.palette.length) % this.palette.length]; }

  resize() {
    const r = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    this.canvas.width = Math.max(1, Math.round(w * r));
    this.canvas.height = Math.max(1, Math.round(h * r));
    this.scale = r;
  }

  note(pitch, velocity, durationMs, channel) {
    const t0 = performance.now();
    this.received += 1;
    this.notes.push({pitch, velocity, channel, t0, t1: t0 + Math.max(30, durationMs)});
    if (!this.channels.has(channel)) {
      this.channels.add(channel);
      if (this.onChannels) this.onChannels([...this.channels].sort((a, b) => a - b));
    }
  }

  beat(n) { this.beats.push({n, t: performance.now()}); }

  frame(t) {
    const start = performance.now();
    this.frameTimes.push(t);
    if (this.frameTimes.length > 2000) this.frameTimes.splice(0, 1000);
    this.draw(start);
    this.drawMs.push(performance.now() - start);
    if (this.drawMs.length > 2000) this.drawMs.splice(0, 1000);
    requestAnimationFrame((t2) => this.frame(t2));
  }

  draw(now) {
    const {ctx, canvas} = this;
    const w = canvas.width, h = canvas.height, oldest = now - this.windowMs;
    let i = 0;
    while (i < this.notes.length && this.notes[i].t1 < oldest) i++;
    if (i) this.notes.splice(0, i);
    while (this.beats.length && this.beats[0].t < oldest) this.beats.shift();
    if (this.notes.length) {       // follow the notes' range, at least two octaves
      let lo = 127, hi = 0;
      for (const n of this.notes) { if (n.pitch < lo) lo = n.pitch; if (n.pitch > hi) hi = n.pitch; }
      const mid = (lo + hi) / 2, span = Math.max(24, hi - lo + 4);
      this.lo += (mid - span / 2 - this.lo) * 0.1;
      this.hi += (mid + span / 2 - this.hi) * 0.1;
    }
    const rows = this.hi - this.lo, rowH = h / rows, pxPerMs = w / this.windowMs;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = "#eef0f5";     // black-key rows, as in the PNGs
    for (let p = Math.floor(this.lo); p <= Math.ceil(this.hi); p++) {
      if ([1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12)) ctx.fillRect(0, h - (p - this.lo + 1) * rowH, w, rowH);
    }
    ctx.fillStyle = "#d6d9e0";
    for (const b of this.beats) ctx.fillRect(Math.round(w - (now - b.t) * pxPerMs), 0, this.scale, h);
    for (const n of this.notes) {
      const x0 = w - (now - n.t0) * pxPerMs, x1 = w - Math.max(0, now - n.t1) * pxPerMs;
      const y = h - (n.pitch - this.lo + 1) * rowH;
      ctx.globalAlpha = 0.55 + 0.45 * n.velocity / 127;
      ctx.fillStyle = this.colour(n.channel);
      ctx.fillRect(x0, y, Math.max(2, x1 - x0), Math.max(2, rowH - 1));
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#282a30";
    ctx.font = `${11 * this.scale}px sans-serif`;
    for (let p = Math.ceil(this.lo / 12) * 12; p < this.hi; p += 12) {
      ctx.fillText(`C${p / 12 - 1}`, 3 * this.scale, h - (p - this.lo) * rowH - 2);
    }
  }

  // frames per second and frame-time percentiles over the last `ms` milliseconds (the bench reads this)
  stats(ms) {
    const now = performance.now(), times = this.frameTimes.filter((t) => t >= now - ms);
    const gaps = times.slice(1).map((t, k) => t - times[k]).sort((a, b) => a - b);
    const pick = (q) => (gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] : null);
    const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
    const draws = this.drawMs.slice(-times.length).sort((a, b) => a - b);
    return {frames: times.length, fps: span ? (times.length - 1) * 1000 / span : 0, p50_ms: pick(0.5),
            p99_ms: pick(0.99), max_ms: gaps.length ? gaps[gaps.length - 1] : null,
            draw_p99_ms: draws.length ? draws[Math.floor(0.99 * (draws.length - 1))] : null,
            notes_shown: this.notes.length};
  }
}
window.PianoRoll = PianoRoll;

// The page: reads /surface.json (the host's OSC schema + the piano-roll palette), builds a card per
// generator (with the visuals shader's picture for a generator that sends its uniforms: visuals.js),
// and talks to the host over one WebSocket in the OSC messages' JSON form
// {"address": "/cmt/...", "args": [...]}. No UI code per plugin: everything comes from the schema.
"use strict";

(() => {
const {el, makeInput, fmt} = window.cmtControls;
const token = new URLSearchParams(location.search).get("token");
const withToken = (path) => (token ? `${path}?token=${encodeURIComponent(token)}` : path);
const page = {socket: null, controls: {}, cards: {}, visuals: {}, status: null, roll: null, errors: 0, sent: 0,
              receive: (msg) => receive(msg)};
window.cmtPage = page;

function send(address, args) {
  const s = page.socket;
  if (!s || s.readyState !== WebSocket.OPEN) { showError(address, "not connected to the host"); return; }
  page.sent += 1;
  s.send(JSON.stringify({address, args: args || []}));
}

function showError(address, reason) {
  page.errors += 1;
  const list = document.getElementById("errors");
  const item = el("li", {class: "error"}, el("b", {text: address}), document.createTextNode(" " + reason));
  item.title = new Date().toLocaleTimeString();
  list.prepend(item);
  while (list.children.length > 6) list.lastChild.remove();
}

function transport(schema) {
  const box = document.getElementById("transport");
  const tempo = schema.in.find((a) => a.address === "/cmt/tempo").args[0];
  const input = makeInput(tempo, "tempo", (v) => send("/cmt/tempo", [v]), true);
  page.controls["/cmt/tempo"] = input;
  box.append(el("label", {for: "tempo", text: "tempo"}), input.node, el("span", {class: "unit", text: "BPM"}),
             el("span", {id: "beat", class: "beat", text: "beat –"}),
             button("stop all", () => send("/cmt/stop", []), "stop-all"),
             button("panic", () => send("/cmt/panic", []), "panic", "danger"));
}

function button(text, onClick, id, cls) {
  const b = el("button", {type: "button", id, class: cls || ""}, document.createTextNode(text));
  b.addEventListener("click", onClick);
  return b;
}

function paramRow(gen, address, arg) {
  const id = `${gen}-${arg.name}`;
  const input = makeInput(arg, id, (v) => send(address, [v]), true);
  page.controls[address] = input;
  const numeric = arg.type === "int" || arg.type === "float";
  const row = el("div", {class: "param", "data-address": address},
                 el("label", {for: id, text: arg.name.replace(/_/g, "_\u200b"), title: arg.doc || ""}), input.node,
                 numeric ? button("learn CC", () => send("/cmt/learn", [gen, arg.name]), `${id}-learn`, "small")
                         : el("span"));
  row.append(el("p", {class: "help", text: [arg.doc, range(arg)].filter(Boolean).join(" · ")}));
  return row;
}

// "24..96 MIDI pitch", "one of plain, prompt", "≥ 0 beats": what the host accepts, from the schema
function range(arg) {
  const unit = arg.unit ? " " + arg.unit : "";
  if (arg.choices && arg.choices.length) return "one of " + arg.choices.join(", ");
  if (arg.min !== null && arg.max !== null) return `${arg.min}..${arg.max}${unit}`;
  if (arg.min !== null) return `≥ ${arg.min}${unit}`;
  return unit.trim();
}

function actionRow(gen, entry) {
  const name = entry.address.split("/").pop();
  const inputs = entry.args.map((a) => makeInput({...a, optional: true}, `${gen}-${name}-${a.name}`, () => {}, false));
  const go = () => {
    const args = inputs.map((i) => i.get());
    while (args.length && (args[args.length - 1] === null || args[args.length - 1] === "")) args.pop();
    send(entry.address, args);
  };
  const row = el("div", {class: "action", "data-address": entry.address},
                 button(name, go, `${gen}-${name}`, "act"));
  entry.args.forEach((a, k) => row.append(el("span", {class: "arg", title: [a.doc, range(a)].filter(Boolean).join(" · ")},
                                             el("small", {text: a.name}), inputs[k].node)));
  if (entry.doc) row.append(el("p", {class: "help", text: entry.doc}));
  return row;
}

function card(name, info, schema) {
  const state = el("span", {class: "state", text: "idle"});
  const head = el("div", {class: "head"}, el("h2", {text: name}), state,
                  button("play", () => send("/cmt/play", [name]), `${name}-play`, "play"),
                  button("stop", () => send("/cmt/stop", [name]), `${name}-stop`));
  const box = el("section", {class: "gen", id: `gen-${name}`}, head,
                 el("p", {class: "desc", text: info.description || ""}));
  const mine = schema.in.filter((a) => a.generator === name);
  for (const entry of mine.filter((a) => a.kind === "param")) box.append(paramRow(name, entry.address, entry.args[0]));
  const actions = mine.filter((a) => a.kind === "action");
  if (actions.length) {
    box.append(el("h3", {text: "actions"}));
    for (const entry of actions) box.append(actionRow(name, entry));
  }
  const outs = schema.out.filter((a) => a.generator === name);
  const monitor = el("div", {class: "monitor"});
  if (outs.length) box.append(monitor);
  page.cards[name] = {box, state, monitor, slots: {}, picture: null};
  const sends = new Set(outs.map((a) => a.address.split("/").pop()));
  if (UNIFORMS.every((u) => sends.has(u))) picture(name, monitor);
  return box;
}

// A generator that sends the visuals shader's uniforms (/params, /pulse, /palette) gets the picture drawn
// with that shader; without WebGL its card says so and shows the numbers as bars.
const UNIFORMS = ["params", "pulse", "palette"];

function picture(name, monitor) {
  const canvas = el("canvas", {class: "picture", id: `${name}-picture`, width: 480, height: 270});
  const note = el("p", {class: "note"});
  monitor.prepend(canvas, note);
  window.cmtVisuals.create(canvas, "/static/visuals.frag").then((pic) => {
    if (pic) { page.cards[name].picture = pic; page.visuals[name] = pic; return; }
    canvas.remove();
    note.textContent = "No picture: this browser has no WebGL. The shader's parameters are shown as numbers.";
  }).catch((e) => { canvas.remove(); note.textContent = `No picture: ${e.message}`; });
}

// a generator's own messages (the tagger's caption, tags and embedding; anything a new plugin declares)
function monitor(gen, what, args) {
  const a = args;
  const c = page.cards[gen];
  if (!c) return;
  if (c.picture && UNIFORMS.includes(what) && c.picture.take(what, a)) return;
  let slot = c.slots[what];
  if (!slot) { slot = c.slots[what] = el("div", {class: `out out-${what}`}); c.monitor.append(slot); }
  slot.replaceChildren(el("small", {text: what}));
  let value = args.length === 1 ? args[0] : args;
  if (typeof value === "string" && value.startsWith("{")) { try { value = JSON.parse(value); } catch (e) { /* text */ } }
  if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
    const bars = el("canvas", {class: "bars", width: 300, height: 40});
    const g = bars.getContext("2d"), m = Math.max(1e-9, ...value.map(Math.abs));
    value.forEach((v, k) => { g.fillStyle = v >= 0 ? "#1f77b4" : "#d62728";
      g.fillRect(k * 300 / value.length, 20 - 20 * v / m, Math.max(1, 300 / value.length - 1), 20 * v / m); });
    slot.append(bars);
  } else if (value && typeof value === "object") {
    const tags = value.tags && typeof value.tags === "object" ? value.tags : null;
    if (tags) {
      for (const [group, list] of Object.entries(tags)) {
        for (const t of [].concat(list)) slot.append(el("span", {class: "chip", title: group, text: t}));
      }
    } else slot.append(el("code", {text: JSON.stringify(value).slice(0, 300)}));
  } else slot.append(el("p", {class: what === "caption" ? "caption" : "", text: String(value)}));
}

function applyStatus(s) {
  page.status = s;
  const tempo = page.controls["/cmt/tempo"];
  if (tempo && !tempo.busy()) tempo.set(fmt(s.tempo));
  for (const [name, g] of Object.entries(s.generators || {})) {
    const c = page.cards[name];
    if (!c) continue;
    c.state.textContent = g.error ? "error" : g.playing ? "playing" : g.ready ? "idle" : "loading";
    c.state.className = `state ${c.state.textContent}`;
    c.state.title = g.error || `${g.phrases} phrases` + (g.seed !== undefined ? `, seed ${g.seed} (set it to hear it again)` : "");
    for (const [p, v] of Object.entries(g.params || {})) {
      const input = page.controls[`/cmt/${name}/${p}`];
      if (input && !input.busy()) input.set(typeof v === "number" ? fmt(v) : v);
    }
  }
  const cc = (s.cc || []).map((b) => `CC ${b.cc}${b.channel ? " ch " + b.channel : ""} → ${b.generator}.${b.param}`);
  document.getElementById("learning").textContent =
    (s.learning ? `move a knob: the next CC binds to ${s.learning}. ` : "") + cc.join(" · ");
}

function progress(task, fraction) {
  const box = document.getElementById("progress");
  let bar = box.querySelector(`[data-task="${CSS.escape(task)}"]`);
  if (!bar) { bar = el("label", {"data-task": task, text: task + " "}, el("progress", {max: 1})); box.append(bar); }
  bar.querySelector("progress").value = fraction;
  if (fraction >= 1) setTimeout(() => bar.remove(), 3000);
}

function receive(msg) {
  const a = msg.args || [], addr = msg.address;
  if (addr === "/cmt/note") page.roll.note(a[1], a[2], a[3], a[4]);
  else if (addr === "/cmt/beat") { page.roll.beat(a[0]); document.getElementById("beat").textContent = `beat ${a[0]}`; }
  else if (addr === "/cmt/status") { try { applyStatus(JSON.parse(a[0])); } catch (e) { /* partial */ } }
  else if (addr === "/cmt/error") showError(a[0], a[1]);
  else if (addr === "/cmt/progress") progress(a[0], a[1]);
  else if (addr === "/cmt/info") document.getElementById("info").textContent = `${a[0]}: ${a[1]}`;
  else if (addr === "/cmt/learned") document.getElementById("info").textContent = `CC ${a[3]} (channel ${a[2]}) → ${a[0]}.${a[1]}`;
  else { const parts = addr.split("/"); if (parts.length === 4) monitor(parts[2], parts[3], a); }
}

function connect() {
  const link = document.getElementById("link");
  const s = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${withToken("/ws")}`);
  page.socket = s;
  s.onopen = () => { link.textContent = "connected"; link.className = "link on"; };
  s.onmessage = (e) => { try { receive(JSON.parse(e.data)); } catch (err) { console.error(err); } };
  s.onclose = () => { link.textContent = "disconnected: retrying"; link.className = "link off"; setTimeout(connect, 1000); };
}

function legend(channels) {
  const box = document.getElementById("legend");
  box.replaceChildren(...channels.map((c) => {
    const key = el("span", {class: "key", text: `ch ${c}`});
    key.style.setProperty("--c", page.roll.colour(c));    // CSSOM: allowed by the page's CSP (no inline styles)
    return key;
  }));
}

async function main() {
  const res = await fetch(withToken("/surface.json"));
  if (!res.ok) { showError("(page)", await res.text()); return; }
  const {schema, palette} = await res.json();
  page.roll = new PianoRoll(document.getElementById("roll"), palette);
  page.roll.onChannels = legend;
  window.cmtRoll = page.roll;
  transport(schema);
  const main = document.getElementById("generators");
  for (const [name, info] of Object.entries(schema.generators)) main.append(card(name, info, schema));
  connect();
}

main();
})();

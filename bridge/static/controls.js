// Controls made from the OSC schema's argument descriptions ({name, type, min, max, default, unit, doc,
// choices}): a slider + number box for a bounded number, a number box, a checkbox, a menu or a text field.
// The page checks nothing itself: what the player types goes to the host as it is, and the host's one
// validation table answers (a refusal shows as an error).
"use strict";

(() => {
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function numberValue(arg, text) {
  const t = String(text).trim();
  if (t === "") return null;
  const v = Number(t);
  if (!Number.isFinite(v)) return t;                     // sent as text: the host says what is wrong
  return arg.type === "int" && Number.isInteger(v) ? v : v;
}

// One input for one argument. onSend(value) is called when the player sets it; `live` sends while a
// slider moves (about 30 times a second at most). Returns {node, get(), set(v), busy()}.
function makeInput(arg, id, onSend, live) {
  const bounded = (arg.type === "int" || arg.type === "float") && arg.min !== null && arg.max !== null;
  const step = arg.type === "int" ? 1 : (bounded ? (arg.max - arg.min) / 200 : "any");
  let touching = false;
  if (arg.type === "bool") {
    const box = el("input", {type: "checkbox", id, "data-arg": arg.name});
    box.checked = !!arg.default;
    box.addEventListener("change", () => onSend(box.checked));
    return {node: box, get: () => box.checked, set: (v) => { box.checked = !!v; }, busy: () => false};
  }
  if (arg.type === "str" && arg.choices && arg.choices.length) {
    const menu = el("select", {id, "data-arg": arg.name});
    if (arg.optional) menu.append(el("option", {value: "", text: "—"}));
    for (const c of arg.choices) menu.append(el("option", {value: c, text: c}));
    menu.value = arg.optional ? "" : (arg.default ?? "");
    menu.addEventListener("change", () => onSend(menu.value));
    return {node: menu, get: () => menu.value, set: (v) => { menu.value = v; },
            busy: () => document.activeElement === menu};
  }
  if (arg.type === "str") {
    const text = el("input", {type: "text", id, "data-arg": arg.name, placeholder: arg.doc || arg.name});
    text.addEventListener("keydown", (e) => { if (e.key === "Enter") onSend(text.value); });
    return {node: text, get: () => text.value, set: (v) => { text.value = v; },
            busy: () => document.activeElement === text};
  }
  const num = el("input", {type: "number", id, "data-arg": arg.name, step, inputmode: "decimal",
                           min: arg.min, max: arg.max, class: "num"});
  num.value = arg.default ?? "";
  num.addEventListener("change", () => { const v = numberValue(arg, num.value); if (v !== null) onSend(v); });
  if (!bounded) {
    return {node: num, get: () => numberValue(arg, num.value), set: (v) => { num.value = v; },
            busy: () => document.activeElement === num};
  }
  const slider = el("input", {type: "range", min: arg.min, max: arg.max, step, "data-arg": arg.name,
                              "aria-label": arg.name, class: "slider"});
  slider.value = arg.default ?? arg.min;
  let pending = null;
  const flush = () => { if (pending !== null) { onSend(pending); pending = null; } };
  slider.addEventListener("pointerdown", () => { touching = true; });
  slider.addEventListener("pointerup", () => { touching = false; });
  slider.addEventListener("input", () => {
    num.value = slider.value;
    if (!live) return;
    if (pending === null) setTimeout(flush, 33);
    pending = numberValue(arg, slider.value);
  });
  slider.addEventListener("change", () => { pending = null; onSend(numberValue(arg, slider.value)); });
  num.addEventListener("input", () => { slider.value = num.value; });
  const box = el("span", {class: "pair"}, slider, num);
  return {node: box, get: () => numberValue(arg, num.value),
          set: (v) => { slider.value = v; num.value = v; },
          busy: () => touching || document.activeElement === num || document.activeElement === slider};
}

function fmt(v) {
  return typeof v === "number" && !Number.isInteger(v) ? String(Math.round(v * 1000) / 1000) : String(v);
}

window.cmtControls = {el, makeInput, fmt};
})();

// Building the page with DOM APIs only: text is always set as text, never parsed as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;

// A labelled form field: {label, name, type, value, ...attributes of the input}.
export function field(label, attrs = {}) {
  const id = attrs.id || `f${++fieldCounter}`;
  const tag = attrs.type === "select" ? "select" : attrs.type === "textarea" ? "textarea" : "input";
  const { options, type, ...rest } = attrs;
  const input = h(tag, { id, ...(tag === "input" ? { type: type || "text" } : {}), ...rest });
  if (options) for (const [value, text] of options) input.append(h("option", { value }, text));
  if (attrs.value !== undefined) input.value = attrs.value;
  return h("div", {}, h("label", { for: id }, label), input);
}

export function checkbox(label, attrs = {}) {
  return h("label", { class: "inline" }, h("input", { type: "checkbox", ...attrs }), label);
}

// Building the page without HTML strings: every text goes in as a text node, so names
// coming from users or files (`<img src=x onerror=...>`) are shown, never interpreted.

/** h("a", {href: "#/jobs", class: "x", onclick: fn}, "text", child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "style" || name === "innerHTML") {
      throw new Error(`attribute ${name} is not allowed`);  // CSP and escaping
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (name === "checked" || name === "disabled" || name === "selected") {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function statusBadge(status) {
  return h("span", { class: `badge st-${String(status || "").toLowerCase()}` }, status || "?");
}

export function progressBar(value, label) {
  const pct = Math.max(0, Math.min(100, Number(value) || 0));
  return h("span", { class: "prog" },
    h("progress", { max: "100", value: String(pct), "aria-label": label || "Progress" }),
    h("span", { class: "pct" }, `${Math.round(pct)}%`));
}

/** A table inside a horizontally scrollable box (phones). */
export function table(headers, rows, attrs = {}) {
  return h("div", { class: "scroll" },
    h("table", attrs,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}

/** An error (or notice) shown in words, announced to screen readers. */
export function errorBox(message) {
  return h("p", { class: "error", role: "alert" }, message);
}

/** Replace the element's content (null/false children are skipped, arrays flattened). */
export function fill(el, ...children) {
  return append(clear(el), children);
}

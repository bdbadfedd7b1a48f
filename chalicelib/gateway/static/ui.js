// Page-to-page messages and navigation, shared by every page.
import { h, clear } from "./dom.js";

let pending = null;  // a message for the page that comes next

export function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  clear(box);
  if (message) box.append(h("p", { class: kind }, message));
}

/** Show `message` on the next page drawn (it survives the navigation to it). */
export function flashNext(message, kind = "info") {
  pending = [message, kind];
}

export function takePending() {
  const out = pending;
  pending = null;
  return out;
}

export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

// The app shell: hash routes (#/jobs, #/jobs/ID, ...), the navigation, and a scope per
// page whose timers stop when the user leaves it.
import { api, session } from "./api.js";
import { h, clear, errorBox } from "./dom.js";
import { flash, flashNext, navigate, takePending } from "./ui.js";
import { loginPage, registerPage, resetPage } from "./auth.js";
import { submitPage } from "./submit.js";
import { jobsPage, jobPage } from "./jobs.js";
import { batchesPage, batchPage } from "./batches.js";
import { adminPage } from "./admin.js";
import { accountPage } from "./account.js";

const PUBLIC = new Set(["login", "register", "reset"]);
const ROUTES = {
  login: loginPage,
  register: registerPage,
  reset: resetPage,
  submit: submitPage,
  jobs: (ctx, id) => (id ? jobPage(ctx, id) : jobsPage(ctx)),
  batches: (ctx, id) => (id ? batchPage(ctx, id) : batchesPage(ctx)),
  admin: adminPage,
  account: accountPage,
};

let current = null;  // the scope of the page on screen

/** What a page gets: where to draw, timers that end with the page, navigation. */
class Scope {
  constructor(main) {
    this.main = main;
    this.alive = true;
    this.timers = [];
  }
  /**
   * Run `fn` now and then every `ms` until it returns false or the page is left; a number
   * returned is the wait before the next run.
   */
  every(ms, fn) {
    const tick = async () => {
      if (!this.alive) return;
      let again = true;
      try { again = await fn(); } catch (e) { again = true; }
      if (this.alive && again !== false) this.timers.push(setTimeout(tick, typeof again === "number" ? again : ms));
    };
    tick();
  }
  end() {
    this.alive = false;
    this.timers.forEach(clearTimeout);
  }
  go(hash) { navigate(hash); }
}

function drawNav() {
  const nav = clear(document.getElementById("nav"));
  const user = session.user;
  const link = (hash, text) => h("a", { href: hash, class: location.hash.startsWith(hash) ? "active" : null }, text);
  if (!user) {
    nav.append(link("#/login", "Sign in"), link("#/register", "Register"));
    return;
  }
  nav.append(link("#/submit", "Submit"), link("#/jobs", "Jobs"), link("#/batches", "Batches"));
  if (user.role === "admin") nav.append(link("#/admin", "Admin"));
  nav.append(
    h("a", { href: "#/account", class: `who${location.hash.startsWith("#/account") ? " active" : ""}`, id: "account-link",
      title: "Your account and notifications" }, user.username),
    h("button", { type: "button", class: "link", id: "sign-out", onclick: signOut }, "Sign out"),
  );
}

function signOut() {
  session.token = null;
  session.user = null;
  flashNext("You are signed out.");
  navigate("#/login");
}

async function render() {
  const [name, id] = location.hash.replace(/^#\/?/, "").split("/");
  if (current) current.end();
  const main = document.getElementById("main");
  current = new Scope(main);
  const scope = current;
  if (session.token && !session.user) {
    try {
      session.user = await api("GET", "auth/me");
    } catch (e) {
      if (e.status !== 401) flashNext(e.message, "error");
    }
  }
  if (!scope.alive) return;
  const route = ROUTES[name] ? name : session.user ? "jobs" : "login";
  if (!session.user && !PUBLIC.has(route)) {
    if (name && name !== route) flashNext("Please sign in first.");
    if (location.hash !== "#/login") { location.hash = "#/login"; return; }
  }
  if (session.user && PUBLIC.has(route) && route !== "reset") {
    location.hash = "#/jobs";
    return;
  }
  if (route !== name) { history.replaceState(null, "", `#/${route}`); }
  const next = takePending();
  flash(next ? next[0] : "", next ? next[1] : "info");
  drawNav();
  clear(main);
  try {
    await ROUTES[route](scope, id ? decodeURIComponent(id) : null);
  } catch (e) {
    if (scope.alive) main.append(errorBox(e.message || String(e)));
  }
  document.title = `${(main.querySelector("h1") || {}).textContent || "AMR"} – AMR prediction`;
}

window.addEventListener("hashchange", render);
window.addEventListener("amr:signed-out", (e) => {
  flashNext(e.detail || "Your session has ended; please sign in again.", "error");
  navigate("#/login");
});
render();

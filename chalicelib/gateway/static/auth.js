// Sign in, register, password reset.
import { api, session } from "./api.js";
import { h, clear, errorBox } from "./dom.js";
import { flashNext, navigate } from "./ui.js";

/** A labelled input (label + control, keyboard and screen-reader friendly). */
export function field(label, attrs) {
  const id = attrs.id || `f-${attrs.name}`;
  return h("div", { class: "field" }, h("label", { for: id }, label), h("input", { id, ...attrs }));
}

/** A form whose submit runs `action(values)`; errors appear above the button, in words. */
export function form(attrs, fields, buttonText, action) {
  const errors = h("div", { class: "form-errors" });
  const button = h("button", { type: "submit", class: "primary" }, buttonText);
  const el = h("form", { ...attrs, novalidate: true }, fields, errors, button);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(errors);
    const missing = [...el.elements].find((x) => x.required && !x.value.trim());
    if (missing) {
      errors.append(errorBox(`Please fill in “${el.querySelector(`label[for="${missing.id}"]`).textContent}”.`));
      missing.focus();
      return;
    }
    const values = Object.fromEntries(new FormData(el).entries());
    button.disabled = true;
    try {
      await action(values, errors);
    } catch (e) {
      errors.append(errorBox(e.message || String(e)));
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

async function signIn(username, password) {
  const token = await api("POST", "auth/login", { username, password });
  session.token = token.access_token;
  session.user = await api("GET", "auth/me");
}

export function loginPage(scope) {
  scope.main.append(
    h("section", { class: "card narrow" },
      h("h1", {}, "Sign in"),
      form({ id: "login-form" }, [
        field("Username", { name: "username", autocomplete: "username", required: true, autofocus: true }),
        field("Password", { name: "password", type: "password", autocomplete: "current-password", required: true }),
      ], "Sign in", async (v) => {
        await signIn(v.username.trim(), v.password);
        navigate("#/jobs");
      }),
      h("p", {}, "No account yet? ", h("a", { href: "#/register" }, "Register"), " · ",
        h("a", { href: "#/reset" }, "Forgot your password?"))));
  scope.main.querySelector("input").focus();
}

export function registerPage(scope) {
  scope.main.append(
    h("section", { class: "card narrow" },
      h("h1", {}, "Create an account"),
      form({ id: "register-form" }, [
        field("Username", { name: "username", autocomplete: "username", required: true, minlength: 3, maxlength: 64,
          pattern: "[A-Za-z0-9_.\\-]+", "aria-describedby": "username-help" }),
        h("p", { class: "help", id: "username-help" }, "3–64 letters, digits, “_”, “.” or “-”."),
        field("Email", { name: "email", type: "email", autocomplete: "email", required: true }),
        field("Password", { name: "password", type: "password", autocomplete: "new-password", required: true,
          minlength: 10, "aria-describedby": "password-help" }),
        h("p", { class: "help", id: "password-help" }, "At least 10 characters."),
      ], "Register", async (v) => {
        await api("POST", "auth/register", { username: v.username.trim(), email: v.email.trim(), password: v.password });
        await signIn(v.username.trim(), v.password);
        flashNext(`Welcome, ${session.user.username}! Drop your first genomes below.`);
        navigate("#/submit");
      }),
      h("p", {}, "Already registered? ", h("a", { href: "#/login" }, "Sign in"))));
  scope.main.querySelector("input").focus();
}

export function resetPage(scope) {
  scope.main.append(
    h("section", { class: "card narrow" },
      h("h1", {}, "Reset your password"),
      h("h2", {}, "1. Ask for a reset token"),
      form({ id: "reset-request-form" }, [
        field("Email of your account", { name: "email", type: "email", autocomplete: "email", required: true }),
      ], "Email me a token", async (v, out) => {
        const reply = await api("POST", "auth/password-reset", { email: v.email.trim() });
        out.append(h("p", { class: "ok", role: "status" }, reply && reply.message ? reply.message : "Check your email."));
      }),
      h("h2", {}, "2. Choose a new password"),
      form({ id: "reset-confirm-form" }, [
        field("Token from the email", { name: "token", autocomplete: "one-time-code", required: true }),
        field("New password", { name: "new_password", type: "password", autocomplete: "new-password", required: true,
          minlength: 10 }),
      ], "Set the new password", async (v) => {
        await api("POST", "auth/password-reset/confirm", { token: v.token.trim(), new_password: v.new_password });
        flashNext("Your password has been changed; sign in with it.");
        navigate("#/login");
      }),
      h("p", {}, h("a", { href: "#/login" }, "Back to sign in"))));
}

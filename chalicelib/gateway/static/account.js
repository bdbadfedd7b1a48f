// The account page: who you are, and notifications (design §22) — webhook, email, events,
// the signing secret (shown once, rotatable) and the latest deliveries.
import { api, session } from "./api.js";
import { h, clear, fill, errorBox, fmtTime, table } from "./dom.js";

const EVENTS = [
  ["job.completed", "A job completed"],
  ["job.failed", "A job failed"],
  ["batch.finished", "A batch finished"],
];

function whoSection() {
  const u = session.user || {};
  return h("section", { class: "card", id: "who" }, h("h2", {}, "Account"),
    h("dl", { class: "facts" },
      h("dt", {}, "Username"), h("dd", {}, u.username || ""),
      h("dt", {}, "Email"), h("dd", {}, u.email || ""),
      h("dt", {}, "Role"), h("dd", {}, u.role || ""),
      h("dt", {}, "Member since"), h("dd", {}, fmtTime(u.created_at))));
}

/** The secret appears once, right after it was made: the service never shows it again. */
function secretNotice(settings) {
  if (!settings.secret) return null;
  return h("div", { class: "notice", id: "new-secret", role: "status" },
    h("p", {}, h("strong", {}, "Your signing secret — copy it now, it is shown only once:")),
    h("p", {}, h("code", { class: "secret" }, settings.secret)),
    h("p", { class: "muted" },
      `Each webhook carries the ${settings.signature_header} header: an HMAC-SHA256 of the timestamp and the body `
      + "with this secret. Verify it before trusting a delivery (the README shows how)."));
}

function settingsFacts(settings) {
  return h("dl", { class: "facts", id: "notification-settings" },
    h("dt", {}, "Webhook"), h("dd", { id: "current-webhook" }, settings.webhook_url || "off"),
    h("dt", {}, "Email"), h("dd", { id: "current-email" }, settings.email ? "on (when a batch finishes)" : "off"),
    h("dt", {}, "Events"), h("dd", {}, (settings.events || []).join(", ") || "none"),
    h("dt", {}, "Signing secret"), h("dd", { id: "secret-hint" }, settings.secret_hint || "none yet"),
    settings.previous_secret_expires_at
      ? [h("dt", {}, "Previous secret"), h("dd", {}, `still signs until ${fmtTime(settings.previous_secret_expires_at)}`)]
      : null);
}

function deliveriesSection() {
  const body = h("div", { id: "deliveries-body" });
  const refresh = h("button", { type: "button", id: "refresh-deliveries" }, "Refresh");
  const load = async () => {
    try {
      const page = await api("GET", "account/notifications/deliveries?limit=20");
      const rows = page.deliveries.map((d) => h("tr", { "data-event": d.event_id },
        h("td", {}, fmtTime(d.created_at)), h("td", {}, d.event_type), h("td", {}, d.channel),
        h("td", { class: "target" }, d.target), h("td", { class: `delivery-${d.status}` }, d.status),
        h("td", {}, String(d.attempts)),
        h("td", {}, d.last_status_code != null ? String(d.last_status_code) : d.last_error || ""),
        h("td", {}, fmtTime(d.next_attempt_at))));
      fill(body, rows.length
        ? table(["Created", "Event", "Channel", "Target", "Status", "Attempts", "Last answer", "Next attempt"], rows,
          { class: "deliveries" })
        : h("p", { class: "muted" }, "No deliveries yet."));
    } catch (e) {
      fill(body, errorBox(e.message));
    }
  };
  refresh.addEventListener("click", load);
  load();
  return h("section", { class: "card", id: "deliveries" }, h("h2", {}, "Latest deliveries"), refresh, body);
}

function notificationsSection() {
  const box = h("section", { class: "card", id: "notifications" }, h("h2", {}, "Notifications"));
  const state = h("div", {});
  const out = h("div", { "aria-live": "polite" });
  const url = h("input", { type: "url", id: "webhook-url", placeholder: "https://example.org/amr-hook", maxlength: "2048" });
  const email = h("input", { type: "checkbox", id: "notify-email" });
  const events = EVENTS.map(([value]) => h("input", { type: "checkbox", id: `event-${value}`, value }));
  const save = h("button", { type: "submit", class: "primary", id: "save-notifications" }, "Save");
  const rotate = h("button", { type: "button", id: "rotate-secret" }, "Rotate secret");
  const show = (settings) => {
    url.value = settings.webhook_url || "";
    email.checked = Boolean(settings.email);
    events.forEach((e) => { e.checked = (settings.events || []).includes(e.value); });
    rotate.disabled = !settings.created_at;
    fill(state, settingsFacts(settings));
  };
  const form = h("form", { id: "notifications-form" },
    h("label", { for: "webhook-url" }, "Webhook URL (https; leave empty for none)"), url,
    h("span", { class: "check" }, email, h("label", { for: "notify-email" }, "Email me a summary when a batch finishes")),
    h("fieldset", {}, h("legend", {}, "Events"),
      EVENTS.map(([value, label], i) => h("span", { class: "check" }, events[i], h("label", { for: `event-${value}` }, label)))),
    h("div", { class: "actions" }, save, rotate));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    const chosen = events.filter((e) => e.checked).map((e) => e.value);
    if (!chosen.length) { out.append(errorBox("Choose at least one event.")); return; }
    save.disabled = true;
    try {
      const settings = await api("PUT", "account/notifications",
        { webhook_url: url.value.trim() || null, email: email.checked, events: chosen });
      show(settings);
      out.append(h("p", { class: "ok", role: "status" }, "Notification settings saved."), secretNotice(settings));
    } catch (e) {
      out.append(errorBox(e.message));
    } finally {
      save.disabled = false;
    }
  });
  rotate.addEventListener("click", async () => {
    clear(out);
    try {
      const settings = await api("POST", "account/notifications/secret");
      show(settings);
      out.append(secretNotice(settings));
    } catch (e) {
      out.append(errorBox(e.message));
    }
  });
  (async () => {
    try {
      show(await api("GET", "account/notifications"));
    } catch (e) {
      out.append(errorBox(e.message));
    }
  })();
  box.append(state, form, out);
  return box;
}

export function accountPage(scope) {
  scope.main.append(h("h1", {}, "Your account"), whoSection(), notificationsSection(), deliveriesSection());
}

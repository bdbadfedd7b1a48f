// Administration: accounts (activate / deactivate, role), statistics, a maintenance run.
import { api, session } from "./api.js";
import { h, clear, fill, errorBox, fmtTime, table } from "./dom.js";

const TASKS = [["stalled", "Recover stalled jobs"], ["purge", "Purge expired jobs"], ["archive", "Archive old results"]];

function usersSection() {
  const box = h("section", { class: "card", id: "users" }, h("h2", {}, "Accounts"));
  const body = h("div", {});
  const problems = h("div", { "aria-live": "polite" });
  box.append(problems, body);
  const patch = async (user, change) => {
    clear(problems);
    try {
      const updated = await api("PATCH", `admin/users/${encodeURIComponent(user.user_id)}`, change);
      Object.assign(user, updated);
      problems.append(h("p", { class: "ok", role: "status" },
        `${updated.username}: ${updated.is_active ? "active" : "deactivated"}, ${updated.role}.`));
    } catch (e) {
      problems.append(errorBox(e.message));
    }
    draw();
  };
  let users = [];
  const draw = () => {
    fill(body, table(["Username", "Email", "Role", "Active", "Created", "Last sign-in"], users.map((u) => {
      const self = session.user && u.user_id === session.user.user_id;
      const role = h("select", { "aria-label": `Role of ${u.username}`, disabled: self, class: "role" },
        ["user", "admin"].map((r) => h("option", { value: r, selected: u.role === r }, r)));
      role.addEventListener("change", () => patch(u, { role: role.value }));
      const toggle = h("button", { type: "button", disabled: self, class: u.is_active ? "danger" : "",
        "aria-label": `${u.is_active ? "Deactivate" : "Activate"} ${u.username}` }, u.is_active ? "Deactivate" : "Activate");
      toggle.addEventListener("click", () => patch(u, { is_active: !u.is_active }));
      return h("tr", { "data-username": u.username, class: u.is_active ? "" : "inactive" },
        h("td", {}, u.username), h("td", {}, u.email), h("td", {}, role),
        h("td", {}, h("span", { class: "state" }, u.is_active ? "yes " : "no "), toggle),
        h("td", {}, fmtTime(u.created_at)), h("td", {}, fmtTime(u.last_login)));
    }), { class: "users" }));
  };
  (async () => {
    try {
      let token = null;
      do {
        const page = await api("GET", `admin/users?limit=100${token ? `&next_token=${encodeURIComponent(token)}` : ""}`);
        users = users.concat(page.users);
        token = page.next_token;
      } while (token && users.length < 1000);
      draw();
    } catch (e) {
      body.append(errorBox(e.message));
    }
  })();
  return box;
}

function statsSection() {
  const box = h("section", { class: "card", id: "stats" }, h("h2", {}, "Statistics (all users)"));
  (async () => {
    try {
      const s = await api("GET", "stats?scope=all");
      box.append(h("dl", { class: "facts" },
        h("dt", {}, "Jobs"), h("dd", { id: "stats-total" }, String(s.total)),
        Object.entries(s.by_status || {}).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]),
        h("dt", {}, "Success rate"), h("dd", {}, s.success_rate == null ? "–" : `${(100 * s.success_rate).toFixed(1)} %`),
        h("dt", {}, "Average duration"), h("dd", {}, s.avg_duration_seconds == null ? "–" : `${s.avg_duration_seconds.toFixed(1)} s`),
        h("dt", {}, "Models"), h("dd", {}, (s.top_models || []).map((m) => `${m.model_name} (${m.count})`).join(", ") || "–")));
    } catch (e) {
      box.append(errorBox(e.message));
    }
  })();
  return box;
}

function reportView(run) {
  const r = run.report;
  if (!r) return h("p", {}, run.error ? `Failed: ${run.error}` : `Status: ${run.status}`);
  const list = (ids) => (ids && ids.length ? ids.join(", ") : "none");
  return h("dl", { class: "facts", id: "maintenance-report" },
    h("dt", {}, "Status"), h("dd", {}, run.status + (r.dry_run ? " (dry run: nothing changed)" : "")),
    h("dt", {}, "Tasks"), h("dd", {}, r.tasks.join(", ")),
    r.disabled && r.disabled.length ? [h("dt", {}, "Disabled by policy"), h("dd", {}, r.disabled.join(", "))] : null,
    h("dt", {}, "Stalled → Error"), h("dd", {}, list(r.stalled)),
    h("dt", {}, "Purged"), h("dd", {}, list(r.purged)),
    h("dt", {}, "Archived"), h("dd", {}, list(r.archived)),
    h("dt", {}, "Failed"), h("dd", {}, r.failed && r.failed.length ? r.failed.map((f) => `${f.task} ${f.job_id || ""}: ${f.error}`).join("; ") : "none"),
    h("dt", {}, "More due"), h("dd", {}, r.more_due && r.more_due.length ? r.more_due.join(", ") : "no"),
    h("dt", {}, "Finished"), h("dd", {}, fmtTime(r.finished_at)));
}

function maintenanceSection(scope) {
  const checks = TASKS.map(([value, label]) => h("span", { class: "check" },
    h("input", { type: "checkbox", id: `task-${value}`, value, checked: true }), h("label", { for: `task-${value}` }, label)));
  const dry = h("input", { type: "checkbox", id: "dry-run", checked: true });
  const go = h("button", { type: "button", class: "primary", id: "run-maintenance" }, "Run now");
  const out = h("div", { id: "maintenance-out", "aria-live": "polite" });
  go.addEventListener("click", async () => {
    clear(out);
    const tasks = checks.map((c) => c.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!tasks.length) { out.append(errorBox("Choose at least one task.")); return; }
    go.disabled = true;
    try {
      const accepted = await api("POST", "admin/maintenance", { tasks, dry_run: dry.checked });
      out.append(h("p", { class: "muted" }, `Run ${accepted.run_id} queued…`));
      scope.every(1000, async () => {
        const run = await api("GET", `admin/maintenance/${encodeURIComponent(accepted.run_id)}`);
        if (run.status === "queued" || run.status === "running") {
          fill(out, h("p", { class: "muted" }, `Run ${run.run_id}: ${run.status}…`));
          return true;
        }
        fill(out, h("h3", {}, `Report of run ${run.run_id}`), reportView(run));
        go.disabled = false;
        return false;
      });
    } catch (e) {
      out.append(errorBox(e.message));
      go.disabled = false;
    }
  });
  return h("section", { class: "card", id: "maintenance" }, h("h2", {}, "Maintenance"),
    h("fieldset", {}, h("legend", {}, "Tasks"), checks),
    h("span", { class: "check" }, dry, h("label", { for: "dry-run" }, "Dry run (report only, change nothing)")),
    h("div", {}, go), out);
}

export function adminPage(scope) {
  if (!session.user || session.user.role !== "admin") {
    scope.main.append(h("h1", {}, "Administration"), errorBox("This page is for administrators."));
    return;
  }
  scope.main.append(h("h1", {}, "Administration"), usersSection(), statsSection(), maintenanceSection(scope));
}

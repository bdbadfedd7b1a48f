// The job list (live) and one job's page: phenotype report, genes, mutations, the
// resistance profile by class, logs, downloads, cancel and delete.
import { api } from "./api.js";
import { h, append, clear, fill, errorBox, fmtTime, fmtBytes, progressBar, statusBadge, table } from "./dom.js";
import { flashNext, navigate } from "./ui.js";
import { SPECIES } from "./species.js";
import { locationText, typingSection } from "./typing.js";
import { printReport } from "./report.js";

function speciesLabel(key) {
  const found = SPECIES.find(([k]) => k === (key || "other"));
  return found ? found[1] : key;
}

const ACTIVE = new Set(["Submitted", "Running"]);
const STATUSES = ["Submitted", "Running", "Completed", "Error", "Cancelled", "Archived"];
const POLL_MS = 1500;
const IDLE_POLL_MS = 10000;  // nothing running: a new job (e.g. a bucket drop) still shows up

function jobLink(job) {
  return h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}` }, job.job_name || job.job_id);
}

function summaryText(job) {
  const s = job.summary;
  if (job.status === "Error") return job.error || "";
  if (!s) return "";
  const resistant = s.resistant || [];
  return resistant.length ? `Resistant to ${resistant.length}: ${resistant.slice(0, 4).join(", ")}${resistant.length > 4 ? "…" : ""}`
    : `${s.genes || 0} gene(s), no resistance found`;
}

/** Rows of a job table (the job list and a batch's jobs). */
export function jobRows(jobs) {
  return jobs.map((j) => h("tr", { "data-job-id": j.job_id },
    h("td", { class: "name" }, jobLink(j)),
    h("td", {}, statusBadge(j.status)),
    h("td", {}, progressBar(j.progress, `Progress of ${j.job_name}`)),
    h("td", {}, fmtTime(j.created_at)),
    h("td", { class: "summary" }, summaryText(j))));
}

export const JOB_HEADERS = ["Name", "Status", "Progress", "Submitted", "Result"];

export function jobsPage(scope) {
  const filter = h("select", { id: "status-filter" }, h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s }, s)));
  const body = h("div", { id: "jobs" });
  const more = h("button", { type: "button", id: "more-jobs", hidden: true }, "Show more");
  let extra = [];
  let nextToken = null;
  const query = () => `jobs?limit=50${filter.value ? `&status=${encodeURIComponent(filter.value)}` : ""}`;
  const draw = (jobs) => {
    clear(body);
    if (!jobs.length) {
      body.append(h("p", { class: "muted" }, "No jobs yet. ", h("a", { href: "#/submit" }, "Submit a genome"), "."));
      return;
    }
    body.append(table(JOB_HEADERS, jobRows(jobs), { class: "jobs" }));
  };
  let first = [];
  const refresh = async () => {
    try {
      const page = await api("GET", query());
      if (!scope.alive) return false;
      first = page.jobs;
      if (!extra.length) { nextToken = page.next_token; more.hidden = !nextToken; }
      draw([...first, ...extra.filter((j) => !first.some((f) => f.job_id === j.job_id))]);
      return first.some((j) => ACTIVE.has(j.status)) ? POLL_MS : IDLE_POLL_MS;  // live while jobs run
    } catch (e) {
      fill(body, errorBox(e.message));
      return e.status === 401 ? false : IDLE_POLL_MS;
    }
  };
  filter.addEventListener("change", () => { extra = []; refresh(); });
  more.addEventListener("click", async () => {
    try {
      const page = await api("GET", `${query()}&next_token=${encodeURIComponent(nextToken)}`);
      extra = extra.concat(page.jobs);
      nextToken = page.next_token;
      more.hidden = !nextToken;
      draw([...first, ...extra]);
    } catch (e) {
      body.append(errorBox(e.message));
    }
  });
  scope.main.append(
    h("div", { class: "title-row" }, h("h1", {}, "Jobs"), h("a", { href: "#/submit", class: "button primary" }, "Submit genomes")),
    h("div", { class: "field inline" }, h("label", { for: "status-filter" }, "Show"), filter),
    body, more);
  scope.every(POLL_MS, refresh);
}

// --- one job ------------------------------------------------------------------

/** Phenotype rows, resistant antibiotics first, then by class and name. */
export function sortPhenotypes(rows) {
  const rank = (r) => (r.phenotype === "Resistant" ? 0 : 1);
  return [...rows].sort((a, b) => rank(a) - rank(b)
    || String(a.class).localeCompare(String(b.class)) || String(a.antimicrobial).localeCompare(String(b.antimicrobial)));
}

function phenotypeRows(rows) {
  return rows.map((r) => {
    const resistant = r.phenotype === "Resistant";
    const determinants = [...(r.genes || []), ...(r.mutations || [])].join(", ") || r.genetic_background || "";
    return h("tr", { class: resistant ? "resistant" : "susceptible" },
      h("td", {}, r.antimicrobial),
      h("td", {}, r.class),
      h("td", {}, h("span", { class: resistant ? "badge r" : "badge s" }, r.phenotype)),
      h("td", {}, determinants));
  });
}

/**
 * The phenotype table: resistant antibiotics first; the antibiotics with no resistance
 * found follow behind a button when there are resistant ones (the list is long).
 */
function phenotypeTable(rows) {
  const sorted = sortPhenotypes(rows);
  const resistant = sorted.filter((r) => r.phenotype === "Resistant");
  const others = sorted.filter((r) => r.phenotype !== "Resistant");
  const body = h("tbody", {}, phenotypeRows(resistant.length ? resistant : sorted));
  const box = h("div", {}, h("div", { class: "scroll" }, h("table", { class: "phenotypes", id: "phenotype-table" },
    h("thead", {}, h("tr", {}, ["Antibiotic", "Class", "Prediction", "Determinants"].map((x) => h("th", { scope: "col" }, x)))),
    body)));
  if (resistant.length && others.length) {
    const more = h("button", { type: "button", id: "show-all-phenotypes", "aria-expanded": "false" },
      `Show the ${others.length} antibiotics with no resistance found`);
    more.addEventListener("click", () => {
      append(body, phenotypeRows(others));
      more.remove();
    });
    box.append(more);
  }
  return box;
}

/**
 * The resistance profile by class: one horizontal bar per class with resistance (the
 * share of its antibiotics predicted resistant), then the classes with none, in words.
 */
export function classChart(rows) {
  const byClass = new Map();
  for (const r of rows) {
    const c = byClass.get(r.class) || { resistant: 0, total: 0 };
    c.total += 1;
    if (r.phenotype === "Resistant") c.resistant += 1;
    byClass.set(r.class, c);
  }
  const all = [...byClass.entries()].sort((a, b) => b[1].resistant - a[1].resistant || a[0].localeCompare(b[0]));
  const hit = all.filter(([, c]) => c.resistant);
  const clear_ = all.filter(([, c]) => !c.resistant).map(([name]) => name);
  const figure = h("figure", { class: "chart-box", id: "class-chart" });
  if (hit.length) {
    const rowH = 26, labelW = 230, barW = 300, width = labelW + barW + 70;
    const svg = h("svg:svg", { viewBox: `0 0 ${width} ${rowH * hit.length + 6}`, class: "chart", role: "img",
      "aria-labelledby": "chart-title" },
      h("svg:title", { id: "chart-title" }, "Share of each class's antibiotics predicted resistant"));
    hit.forEach(([name, c], i) => {
      const y = 3 + i * rowH;
      svg.append(
        h("svg:text", { x: labelW - 8, y: y + 17, "text-anchor": "end", class: "chart-label" }, name),
        h("svg:rect", { x: labelW, y: y + 4, width: barW, height: rowH - 8, class: "bar-bg" }),
        h("svg:rect", { x: labelW, y: y + 4, width: (barW * c.resistant) / c.total, height: rowH - 8, class: "bar-r" }),
        h("svg:text", { x: labelW + barW + 8, y: y + 17, class: "chart-label" }, `${c.resistant} of ${c.total}`));
    });
    figure.append(svg);
  }
  append(figure, [h("figcaption", {}, hit.length
    ? "Antibiotics predicted resistant out of those the database lists, per class."
    : "No class with predicted resistance."),
  clear_.length ? h("p", { class: "muted" }, `No resistance found in: ${clear_.join(", ")}.`) : null]);
  return figure;
}

function genesTable(genes) {
  return table(["Gene", "Class", "Phenotypes", "Identity %", "Coverage %", "Depth", "Contig", "Position", "Location"],
    genes.map((g) => h("tr", {},
      h("td", {}, g.gene), h("td", {}, g.drug_class || ""), h("td", {}, (g.phenotypes || []).join(", ")),
      h("td", { class: "num" }, g.identity), h("td", { class: "num" }, g.coverage),
      h("td", { class: "num" }, g.depth ?? ""), h("td", {}, g.contig || ""),
      h("td", {}, g.start ? `${g.start}–${g.end} (${g.strand})` : ""), h("td", {}, locationText(g)))), { class: "genes" });
}

function mutationsTable(mutations) {
  return table(["Gene", "Mutation", "Nucleotide change", "Amino acid change", "Resistance", "Contig", "PMIDs"],
    mutations.map((m) => h("tr", {},
      h("td", {}, m.gene), h("td", {}, m.mutation), h("td", {}, m.nucleotide_change || ""),
      h("td", {}, m.amino_acid_change || ""), h("td", {}, (m.resistance || []).join(", ")),
      h("td", {}, m.contig ? `${m.contig}:${m.contig_position ?? ""}` : ""), h("td", {}, (m.pmids || []).join(", ")))),
    { class: "mutations" });
}

function downloads(urls) {
  return h("ul", { class: "downloads" }, Object.entries(urls || {}).map(([name, url]) =>
    h("li", {}, h("a", { href: url, target: "_blank", rel: "noopener noreferrer", download: name }, name))));
}

function resultsSection(results) {
  const box = h("section", { class: "card", id: "results" }, h("h2", {}, "Phenotype report"));
  if (results.legacy) {
    box.append(h("p", {}, results.message || "Imported from the earlier service."), downloads(results.download_urls));
    return box;
  }
  const rows = results.phenotypes || [];
  const resistant = rows.filter((r) => r.phenotype === "Resistant");
  box.append(h("p", { class: "lead", id: "verdict" }, resistant.length
    ? `Predicted resistant to ${resistant.length} antibiotic(s): ${resistant.map((r) => r.antimicrobial).join(", ")}.`
    : "No acquired resistance found."));
  const panel = results.phenotype_panel;
  const holder = h("div", { id: "phenotypes" }, phenotypeTable(rows));
  let choice = null;
  if (panel && panel.phenotypes && panel.phenotypes.length) {
    const toggle = h("select", { id: "panel-choice" },
      h("option", { value: "all" }, "Every antibiotic in the database"),
      h("option", { value: "panel" }, `The ${panel.name} panel`));
    toggle.addEventListener("change", () => {
      fill(holder, phenotypeTable(toggle.value === "panel" ? panel.phenotypes : rows));
    });
    choice = h("div", { class: "field inline" }, h("label", { for: "panel-choice" }, "Show"), toggle);
  }
  if (rows.length) box.append(h("h3", {}, "Resistance profile by class"), classChart(rows));
  append(box, [h("h3", {}, "Antibiotics"), choice, holder]);
  box.append(h("h3", {}, `Genes (${(results.genes || []).length})`),
    (results.genes || []).length ? genesTable(results.genes) : h("p", { class: "muted" }, "No acquired resistance genes found."));
  if (results.species && results.species !== "other") {
    box.append(h("h3", {}, `Point mutations (${(results.mutations || []).length})`),
      (results.mutations || []).length ? mutationsTable(results.mutations)
        : h("p", { class: "muted" }, "No known resistance mutations found."));
  }
  box.append(h("h3", {}, "Downloads"), downloads(results.download_urls));
  return box;
}

function logsList(events) {
  return h("ol", { class: "logs", id: "logs" }, events.map((e) => h("li", { class: `lvl-${String(e.level).toLowerCase()}` },
    h("time", { datetime: e.timestamp }, fmtTime(e.timestamp)), " ", h("span", { class: "lvl" }, e.level), " ", e.message)));
}

/** A button that asks once more (in the page, keyboard-reachable) before `action`. */
export function confirmButton(label, question, action, id) {
  const holder = h("span", { class: "confirm" });
  const ask = h("button", { type: "button", id, class: "danger" }, label);
  ask.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger", id: `${id}-yes` }, `Yes, ${label.toLowerCase()}`);
    const no = h("button", { type: "button", id: `${id}-no` }, "Keep it");
    yes.addEventListener("click", action);
    no.addEventListener("click", () => { fill(holder, ask); ask.focus(); });
    fill(holder, h("span", {}, question, " "), yes, no);
    yes.focus();
  });
  return holder.appendChild(ask) && holder;
}

export async function jobPage(scope, jobId) {
  const head = h("section", { class: "card", id: "job" });
  const actions = h("div", { class: "actions" });
  const problems = h("div", { "aria-live": "polite" });
  const logs = h("section", { class: "card" }, h("h2", {}, "Log"));
  let resultsShown = false;
  let lastStatus = null;
  let printable = false;  // the report is on the page: offer to print it

  // A deletion waits for the poll in flight and stops polling, so no read of the job
  // races its removal (that read would be a 404 for a job the user just deleted).
  let inflight = Promise.resolve(true);
  let stopped = false;
  const poll = () => (inflight = stopped ? Promise.resolve(false) : refresh());
  const act = async (method, path, done, final = false) => {
    clear(problems);
    if (final) stopped = true;
    await inflight.catch(() => null);
    try {
      await api(method, path);
      done();
    } catch (e) {
      stopped = false;
      problems.append(errorBox(e.message));
      if (final) poll();
    }
  };
  const printButton = h("button", { type: "button", id: "print-report-button" }, "Print report");
  printButton.addEventListener("click", () => window.print());
  const drawActions = (job) => {
    clear(actions);
    if (printable) actions.append(printButton);
    if (ACTIVE.has(job.status)) {
      actions.append(confirmButton("Cancel", "Cancel this job?", () => act("POST", `jobs/${jobId}/cancel`, () => poll()), "cancel-job"));
    }
    if (job.status !== "Running") {
      actions.append(confirmButton("Delete", "Delete this job, its log and its files?", () =>
        act("DELETE", `jobs/${jobId}`, () => { flashNext(`Job “${job.job_name}” deleted.`); navigate("#/jobs"); }, true),
      "delete-job"));
    }
  };
  const info = h("div", {});
  head.append(info, actions, problems);
  let shown = "";
  const drawHead = (job) => {
    const signature = JSON.stringify(job);
    if (signature === shown) return;
    shown = signature;
    fill(info, 
      h("h1", { id: "job-name" }, job.job_name),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", { id: "job-status" }, statusBadge(job.status)),
        h("dt", {}, "Progress"), h("dd", {}, progressBar(job.progress, "Job progress")),
        h("dt", {}, "Input"), h("dd", {}, `${job.input && job.input.filename ? job.input.filename : ""} ${fmtBytes(job.input && job.input.size)}`),
        h("dt", {}, "Species"), h("dd", {}, speciesLabel(job.params && job.params.species)),
        h("dt", {}, "Submitted"), h("dd", {}, fmtTime(job.created_at)),
        job.completed_at ? [h("dt", {}, "Finished"), h("dd", {}, fmtTime(job.completed_at))] : null,
        job.duration_seconds != null ? [h("dt", {}, "Duration"), h("dd", {}, `${job.duration_seconds} s`)] : null),
      job.error ? errorBox(job.error) : null);
  };
  const refresh = async () => {
    let job;
    try {
      job = await api("GET", `jobs/${encodeURIComponent(jobId)}`);
    } catch (e) {
      fill(info, h("h1", {}, "Job"), errorBox(e.message));
      return false;
    }
    if (!scope.alive || stopped) return false;
    drawHead(job);
    if (job.status !== lastStatus) { drawActions(job); lastStatus = job.status; }
    try {
      const page = await api("GET", `jobs/${encodeURIComponent(jobId)}/logs?limit=100`);
      fill(logs, h("h2", {}, "Log"), logsList(page.events));
    } catch (e) {
      fill(logs, h("h2", {}, "Log"), errorBox(e.message));
    }
    if (!resultsShown && (job.status === "Completed" || job.status === "Archived")) {
      resultsShown = true;
      try {
        const results = await api("GET", `jobs/${encodeURIComponent(jobId)}/results`);
        const section = resultsSection(results);
        head.after(section);
        const typing = typingSection(results);
        if (typing) section.after(typing);
        if (!results.legacy) {
          scope.main.append(printReport(job, results));
          printable = true;
          drawActions(job);
        }
      } catch (e) {
        head.after(errorBox(e.message));
      }
    }
    return ACTIVE.has(job.status);
  };
  scope.main.append(h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")), head, logs);
  scope.every(POLL_MS, poll);
}

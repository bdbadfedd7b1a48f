// Batches: the list, and one batch with its sample × antibiotic heat map, its TSV and its
// workbook (.xlsx: summary, matrix, genes, mutations, plasmids, MLST, QC, settings).
import { api, saveBlob, saveText } from "./api.js";
import { h, clear, fill, errorBox, fmtTime, progressBar, statusBadge, table } from "./dom.js";
import { flashNext, navigate } from "./ui.js";
import { JOB_HEADERS, confirmButton, jobRows } from "./jobs.js";

const ACTIVE = new Set(["Submitted", "Running"]);
const CALL_CLASS = { R: "R", S: "S", "?": "Q" };
const CALL_WORDS = { R: "resistant", S: "no resistance found", "?": "no resistance found, but the sample failed QC", "": "not known yet" };
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** The batch's name as a file name, as the service names its downloads. */
function fileStem(name) {
  return String(name).replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "") || "batch";
}
const POLL_MS = 2000;

function countsText(counts) {
  return Object.entries(counts || {}).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ");
}

export function batchesPage(scope) {
  const body = h("div", { id: "batches" });
  scope.main.append(
    h("div", { class: "title-row" }, h("h1", {}, "Batches"), h("a", { href: "#/submit", class: "button primary" }, "Submit a batch")),
    body);
  scope.every(POLL_MS, async () => {
    let page;
    try {
      page = await api("GET", "batches?limit=50");
    } catch (e) {
      fill(body, errorBox(e.status === 404 ? "Batches are not available on this service." : e.message));
      return false;
    }
    if (!scope.alive) return false;
    clear(body);
    if (!page.batches.length) {
      body.append(h("p", { class: "muted" }, "No batches yet. Tick “Submit together as a batch” when you submit several genomes."));
      return true;
    }
    body.append(table(["Name", "Status", "Progress", "Samples", "Created"], page.batches.map((b) => h("tr", {},
      h("td", {}, h("a", { href: `#/batches/${encodeURIComponent(b.batch_id)}` }, b.batch_name)),
      h("td", {}, statusBadge(b.status)),
      h("td", {}, progressBar(b.progress, `Progress of ${b.batch_name}`)),
      h("td", {}, `${b.total} (${countsText(b.counts)})`),
      h("td", {}, fmtTime(b.created_at)))), { class: "batches" }));
    return page.batches.some((b) => ACTIVE.has(b.status));
  });
}

/**
 * The matrix as a heat map: one row per sample, one column per antibiotic, R / S / blank.
 * With `all` false, only the antibiotics some sample is resistant to (the database lists
 * about ninety; a run's story is in the few that are R).
 */
export function heatMap(matrix, all = false) {
  const rows = matrix.rows || [];
  const every = matrix.antibiotics || [];
  const anyR = every.filter((a) => rows.some((r) => (r.calls || {})[a] === "R"));
  const antibiotics = all || !anyR.length ? every : anyR;
  const head = h("tr", {}, h("th", { scope: "col", class: "corner" }, "Sample"),
    h("th", { scope: "col", class: "typing" }, "ST"), h("th", { scope: "col", class: "typing" }, "Replicons"),
    antibiotics.map((a) => h("th", { scope: "col", class: "ab" }, h("span", {}, a))));
  const body = rows.map((r) => h("tr", { "data-sample": r.sample },
    h("th", { scope: "row", class: "sample" }, h("a", { href: `#/jobs/${encodeURIComponent(r.job_id)}` }, r.sample),
      r.status !== "Completed" ? [" ", statusBadge(r.status)] : null),
    h("td", { class: "st" }, r.st || ""), h("td", { class: "replicons" }, (r.replicons || []).join(", ")),
    antibiotics.map((a) => {
      const call = (r.calls || {})[a] || "";
      const words = CALL_WORDS[call] || CALL_WORDS[""];
      return h("td", { class: `cell c-${CALL_CLASS[call] || "none"}`, title: `${r.sample} · ${a}: ${words}` }, call);
    })));
  const caption = `Showing the ${anyR.length} antibiotic(s) some sample is resistant to, of ${every.length}.`;
  return h("div", {},
    h("div", { class: "scroll heat-box" },
      h("table", { class: "heat", id: "heat-map", "aria-describedby": "heat-legend" },
        h("thead", {}, head), h("tbody", {}, body))),
    h("p", { class: "legend", id: "heat-legend" },
      h("span", { class: "key c-R" }, "R"), " resistant ", h("span", { class: "key c-S" }, "S"), " no resistance found ",
      h("span", { class: "key c-Q" }, "?"), " no resistance found but the sample failed QC ",
      h("span", { class: "key c-none" }, ""), " not known yet. ", all || !anyR.length ? "" : caption));
}

export async function batchPage(scope, batchId) {
  const id = encodeURIComponent(batchId);
  const info = h("div", {});
  const problems = h("div", { "aria-live": "polite" });
  const actions = h("div", { class: "actions" });
  const matrixBox = h("section", { class: "card" }, h("h2", {}, "Sample × antibiotic"));
  const jobsBox = h("section", { class: "card" }, h("h2", {}, "Jobs"));
  let lastStatus = null;
  let lastMatrix = null;
  let lastName = null;
  const everyColumn = h("input", { type: "checkbox", id: "every-antibiotic" });
  const allColumns = h("span", { class: "check" }, everyColumn,
    h("label", { for: "every-antibiotic" }, "Show every antibiotic, not only those with resistance"));
  everyColumn.addEventListener("change", () => {
    if (lastMatrix) fill(matrixBox, h("h2", {}, "Sample × antibiotic"), allColumns, heatMap(lastMatrix, everyColumn.checked));
    everyColumn.focus();
  });

  // As on the job page: a deletion waits for the poll in flight and stops polling.
  let inflight = Promise.resolve(true);
  let stopped = false;
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
    }
  };
  const tsv = h("button", { type: "button", id: "download-tsv" }, "Download TSV");
  tsv.addEventListener("click", async () => {
    clear(problems);
    try {
      const text = await api("GET", `batches/${id}/matrix?format=tsv`, undefined, { raw: true });
      saveText(text, `${batchId}-matrix.tsv`, "text/tab-separated-values");
    } catch (e) {
      problems.append(errorBox(e.message));
    }
  });
  const xlsx = h("button", { type: "button", id: "download-xlsx" }, "Download workbook (.xlsx)");
  xlsx.addEventListener("click", async () => {
    clear(problems);
    xlsx.disabled = true;
    try {
      const blob = await api("GET", `batches/${id}/matrix?format=xlsx`, undefined, { accept: XLSX });
      saveBlob(blob, `${fileStem(lastName || batchId)}-results.xlsx`);
    } catch (e) {
      problems.append(errorBox(e.message));
    } finally {
      xlsx.disabled = false;
    }
  });
  const drawActions = (batch) => {
    fill(actions, xlsx, tsv);
    if (ACTIVE.has(batch.status)) {
      actions.append(confirmButton("Cancel", "Cancel every unfinished job of this batch?",
        () => act("POST", `batches/${id}/cancel`, () => {}), "cancel-batch"));
    }
    actions.append(confirmButton("Delete", "Delete this batch with every job, log and file of it?",
      () => act("DELETE", `batches/${id}`, () => { flashNext(`Batch “${batch.batch_name}” deleted.`); navigate("#/batches"); }, true),
      "delete-batch"));
  };
  scope.main.append(h("p", {}, h("a", { href: "#/batches" }, "← All batches")),
    h("section", { class: "card", id: "batch" }, info, actions, problems), matrixBox, jobsBox);

  const refresh = async () => {
    if (stopped) return false;
    let batch;
    try {
      batch = await api("GET", `batches/${id}`);
    } catch (e) {
      fill(info, h("h1", {}, "Batch"), errorBox(e.message));
      return false;
    }
    if (!scope.alive || stopped) return false;
    lastName = batch.batch_name;
    fill(info, h("h1", { id: "batch-name" }, batch.batch_name),
      h("dl", { class: "facts" },
        h("dt", {}, "Status"), h("dd", { id: "batch-status" }, statusBadge(batch.status)),
        h("dt", {}, "Progress"), h("dd", {}, progressBar(batch.progress, "Batch progress")),
        h("dt", {}, "Samples"), h("dd", {}, `${batch.total} (${countsText(batch.counts)})`),
        h("dt", {}, "Created"), h("dd", {}, fmtTime(batch.created_at))));
    if (batch.status !== lastStatus) { drawActions(batch); lastStatus = batch.status; }
    try {
      const matrix = await api("GET", `batches/${id}/matrix?format=json`);
      lastMatrix = matrix;
      fill(matrixBox, h("h2", {}, "Sample × antibiotic"), allColumns, heatMap(matrix, everyColumn.checked));
      const jobs = await api("GET", `jobs?batch_id=${id}&limit=100`);
      fill(jobsBox, h("h2", {}, "Jobs"), table(JOB_HEADERS, jobRows(jobs.jobs), { class: "jobs" }));
    } catch (e) {
      fill(matrixBox, h("h2", {}, "Sample × antibiotic"), errorBox(e.message));
    }
    return ACTIVE.has(batch.status);
  };
  scope.every(POLL_MS, () => (inflight = refresh()));
}

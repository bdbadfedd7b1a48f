// The printable sample report (design §21): what a clinician files for one isolate. It sits on
// the job page, hidden on screen; the print style sheet (print.css) prints it alone, on A4
// or Letter alike: sample, species, QC, typing, resistant antibiotics with their
// determinants, the databases used and the genotypic-prediction disclaimer.
import { h } from "./dom.js";
import { SPECIES } from "./species.js";

export const DISCLAIMER = "Genotypic prediction. These results are predicted from the genome sequence: " +
  "acquired resistance genes and known point mutations found in the reference databases named above. " +
  "They are not a measured susceptibility; confirm with phenotypic antimicrobial susceptibility testing " +
  "before a clinical decision. An antibiotic without a determinant means no resistance was found, not that " +
  "the isolate is susceptible.";

const NOT_RUN = "not run";

/** A time as a filed report wants it: unambiguous, the same wherever it is printed. */
function utc(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : `${d.toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

function speciesName(key) {
  const found = SPECIES.find(([k]) => k === key);
  return found ? found[1] : key;
}

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

/** species: {given, detected: {name, match}, used} (design §19), or the older plain string. */
export function speciesFacts(results) {
  const s = results.species;
  if (s && typeof s === "object") {
    const d = s.detected && typeof s.detected === "object" ? s.detected : {};
    const detected = d.name ? `${d.name}${d.match ? ` (${d.match} match)` : ""}` : "not identified";
    return { detected, given: speciesName(text(s.given)), used: speciesName(text(s.used)) };
  }
  return { detected: NOT_RUN, given: speciesName(text(s)), used: speciesName(text(s)) };
}

/** The QC verdict and the checks that did not pass, in words. */
export function qcFacts(results) {
  const qc = results.qc;
  if (!qc || typeof qc !== "object") return { verdict: NOT_RUN, reasons: [] };
  const reasons = (qc.checks || [])
    .filter((c) => c && !["PASS", ""].includes(text(c.status || c.result).toUpperCase()))
    .map((c) => text(c.message) || `${text(c.name)}: ${text(c.value)}`);
  return { verdict: text(qc.verdict) || NOT_RUN, reasons };
}

/** MLST and replicons (design §20); typing that did not run says so. */
export function typingFacts(results) {
  const typed = Boolean(results.typing_database);
  const raw = results.mlst;
  const calls = Array.isArray(raw) ? raw : raw && typeof raw === "object" ? [raw] : null;
  let mlst = NOT_RUN;
  if (calls && (calls.length || typed)) {
    mlst = calls.length
      ? calls.map((c) => `${text(c.st)}${calls.length > 1 || c.label ? ` (${text(c.label || c.scheme)})` : ""}`).join(", ")
      : "no scheme for this species";
  }
  const hits = Array.isArray(results.plasmids) ? results.plasmids : null;
  let replicons = NOT_RUN;
  if (hits && (hits.length || typed)) {
    const names = [...new Set(hits.map((p) => text(p.replicon || p.name)).filter(Boolean))];
    replicons = names.length ? names.join(", ") : "none found";
  }
  return { mlst, replicons };
}

function geneName(determinant) {
  return text(determinant).split(" (")[0];
}

/** Where each gene sits ("IncFII(K) contig") when typing placed it (design §20). */
function locations(results) {
  const out = new Map();
  for (const g of results.genes || []) {
    const loc = g.location;
    if (loc && typeof loc === "object" && (loc.kind === "plasmid" || (loc.replicons || []).length)) {
      out.set(g.gene, `${(loc.replicons || []).join(", ")} contig`);
    }
  }
  return out;
}

/** "acrR (p.P161R)", "acrR (p.G164A)" → "acrR (p.P161R, p.G164A)": one gene named once. */
export function mutationsByGene(mutations) {
  const byGene = new Map();
  for (const m of mutations || []) {
    const found = /^(\S+) \((.*)\)$/.exec(text(m));
    const [gene, change] = found ? [found[1], found[2]] : [text(m), ""];
    if (!byGene.has(gene)) byGene.set(gene, []);
    if (change) byGene.get(gene).push(change);
  }
  return [...byGene.entries()].map(([gene, changes]) => (changes.length ? `${gene} (${changes.join(", ")})` : gene));
}

/**
 * Resistant antibiotics grouped by class and by the determinants behind them, so a genome
 * resistant to forty antibiotics still prints as a short table.
 */
export function resistanceGroups(results) {
  const where = locations(results);
  const groups = new Map();
  for (const r of results.phenotypes || []) {
    if (r.phenotype !== "Resistant") continue;
    const genes = [...new Set((r.genes || []).map(geneName))];
    const determinants = [...genes.map((g) => (where.has(g) ? `${g} (${where.get(g)})` : g)), ...mutationsByGene(r.mutations)];
    const shown = determinants.length ? determinants.join(", ") : text(r.genetic_background);
    const key = `${r.class}\u0000${shown}`;
    const group = groups.get(key) || { cls: text(r.class), antibiotics: [], determinants: shown };
    group.antibiotics.push(text(r.antimicrobial));
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => a.cls.localeCompare(b.cls) || a.determinants.localeCompare(b.determinants));
}

/** Every reference database the results name: `*database` objects, and maps of them. */
export function databaseLines(results) {
  const lines = [];
  const add = (role, db) => {
    if (!db || typeof db !== "object") return;
    if (db.name || db.version || db.commit || db.source) {
      const parts = [db.name || role, db.version || db.source, db.commit ? `commit ${db.commit}` : ""].filter(Boolean);
      lines.push(parts.join(" "));
    } else {
      for (const [sub, entry] of Object.entries(db)) if (entry && typeof entry === "object") add(sub, entry);
    }
  };
  for (const [key, value] of Object.entries(results)) if (key.endsWith("database")) add(key, value);
  return lines;
}

function fact(label, value, id) {
  return [h("dt", {}, label), h("dd", id ? { id } : {}, value)];
}

/** The report element (class print-only: print.css prints it, the screen does not show it). */
export function printReport(job, results) {
  const species = speciesFacts(results);
  const qc = qcFacts(results);
  const typing = typingFacts(results);
  const groups = resistanceGroups(results);
  const qcFailed = qc.verdict === "FAIL";
  const resistance = groups.length
    ? h("table", { class: "report-table", id: "report-resistance" },
      h("thead", {}, h("tr", {}, ["Class", "Resistant to", "Determinants"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, groups.map((g) => h("tr", {}, h("td", {}, g.cls), h("td", { class: "abx" }, g.antibiotics.join(", ")),
        h("td", {}, g.determinants)))))
    : h("p", { id: "report-resistance" }, qcFailed
      ? "No resistance found (QC failed): an absence in a sample that failed QC is not evidence."
      : "No acquired resistance found.");
  return h("article", { class: "print-only print-report", id: "print-report" },
    h("header", { class: "report-head" },
      h("p", { class: "report-kind" }, "Antimicrobial resistance — sample report"),
      h("h1", { class: "report-sample" }, job.job_name),
      h("p", { class: "report-ids" }, `Job ${job.job_id}`, job.batch_id ? ` · batch ${job.batch_id}` : "")),
    h("dl", { class: "report-facts" },
      fact("Input", `${text(job.input && job.input.filename)}`),
      fact("Submitted", utc(job.created_at)),
      fact("Completed", utc(job.completed_at)),
      fact("Species detected", species.detected, "report-species"),
      fact("Species given", species.given || "—"),
      fact("PointFinder species", species.used || "—"),
      fact("QC", qc.verdict, "report-qc"),
      fact("MLST", typing.mlst, "report-mlst"),
      fact("Replicons", typing.replicons, "report-replicons")),
    qc.reasons.length ? h("p", { class: "report-qc-reasons" }, `QC: ${qc.reasons.join("; ")}`) : null,
    h("h2", {}, `Predicted resistance (${groups.reduce((n, g) => n + g.antibiotics.length, 0)} antibiotics)`),
    resistance,
    h("p", { class: "report-dbs", id: "report-databases" }, h("strong", {}, "Databases: "),
      databaseLines(results).join(" · ") || "—"),
    h("p", { class: "disclaimer", id: "report-disclaimer" }, DISCLAIMER),
    h("p", { class: "report-foot" }, `Printed ${utc(new Date().toISOString())} · AMR prediction service`));
}

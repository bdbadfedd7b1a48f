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

/**
 * Where each plasmid-borne gene sits, as a numbered note ("1" → "IncFII(K)"): the table marks
 * the gene with the number and a legend under it names each contig's replicons once, so forty
 * antibiotics still fit on one page (design §20, §21).
 */
export function locationNotes(results) {
  const notes = [];
  const byGene = new Map();
  for (const g of results.genes || []) {
    const loc = g.location;
    if (!loc || typeof loc !== "object" || !(loc.kind === "plasmid" || (loc.replicons || []).length)) continue;
    const where = (loc.replicons || []).join(", ") || "plasmid";
    let index = notes.indexOf(where);
    if (index < 0) index = notes.push(where) - 1;
    byGene.set(g.gene, index + 1);
  }
  return { notes, byGene };
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
  const { byGene } = locationNotes(results);
  const groups = new Map();
  for (const r of results.phenotypes || []) {
    if (r.phenotype !== "Resistant") continue;
    const genes = [...new Set((r.genes || []).map(geneName))];
    const determinants = [...genes.map((g) => ({ name: g, note: byGene.get(g) || 0 })),
      ...mutationsByGene(r.mutations).map((m) => ({ name: m, note: 0 }))];
    if (!determinants.length) determinants.push({ name: text(r.genetic_background), note: 0 });
    const shown = determinants.map((d) => (d.note ? `${d.name}[${d.note}]` : d.name)).join(", ");
    const key = `${r.class}\u0000${shown}`;
    const group = groups.get(key) || { cls: text(r.class), antibiotics: [], determinants, shown };
    group.antibiotics.push(text(r.antimicrobial));
    groups.set(key, group);
  }
  return [...groups.values()].sort((a, b) => a.cls.localeCompare(b.cls) || a.shown.localeCompare(b.shown));
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

/** "blaKPC-2¹, OqxA": a plasmid-borne gene carries the number of its note. */
function determinantCell(determinants) {
  return determinants.flatMap((d, i) => [i ? ", " : "", d.name, d.note ? h("sup", {}, String(d.note)) : ""]);
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
  const { notes } = locationNotes(results);
  const qcFailed = qc.verdict === "FAIL";
  const resistance = groups.length
    ? h("table", { class: "report-table", id: "report-resistance" },
      h("thead", {}, h("tr", {}, ["Class", "Resistant to", "Determinants"].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, groups.map((g) => h("tr", {}, h("td", {}, g.cls), h("td", { class: "abx" }, g.antibiotics.join(", ")),
        h("td", {}, determinantCell(g.determinants))))))
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
    notes.length ? h("p", { class: "report-notes", id: "report-locations" },
      notes.map((where, i) => [h("sup", {}, String(i + 1)), ` on a contig carrying ${where}`, i + 1 < notes.length ? " · " : ""]))
      : null,
    h("p", { class: "report-dbs", id: "report-databases" }, h("strong", {}, "Databases: "),
      databaseLines(results).join(" · ") || "—"),
    h("p", { class: "disclaimer", id: "report-disclaimer" }, DISCLAIMER),
    h("p", { class: "report-foot" }, `Printed ${utc(new Date().toISOString())} · AMR prediction service`));
}

// The job page's typing section (design §20): sequence type per MLST scheme with its alleles,
// plasmid replicons with their contigs, and each resistance gene's location.
import { h, table } from "./dom.js";

// "IncFII(K) contig" for a plasmid-borne gene, "chromosome-like" otherwise, "" when untyped.
export function locationText(gene) {
  const loc = gene.location;
  if (!loc) return "";
  return loc.kind === "plasmid" ? `${(loc.replicons || []).join(", ")} contig` : "chromosome-like";
}

function mlstTable(calls) {
  const rows = calls.map((c) => h("tr", {},
    h("td", {}, c.label || c.scheme),
    h("td", { class: "st" }, c.st),
    h("td", {}, c.clonal_complex || ""),
    h("td", {}, Object.entries(c.alleles || {}).map(([locus, allele]) => `${locus} ${allele}`).join(" · ")),
    h("td", {}, c.selected_by === "species" ? "by species" : c.selected_by === "best match" ? "best match" : c.selected_by)));
  return table(["Scheme", "ST", "Clonal complex", "Alleles", "Scheme chosen"], rows, { class: "mlst" });
}

function plasmidsTable(hits) {
  const rows = hits.map((p) => h("tr", {},
    h("td", {}, p.name), h("td", { class: "num" }, p.identity), h("td", { class: "num" }, p.coverage),
    h("td", {}, p.contig), h("td", {}, `${p.start}–${p.end} (${p.strand})`), h("td", {}, p.accession || "")));
  return table(["Replicon", "Identity %", "Coverage %", "Contig", "Position", "Accession"], rows, { class: "plasmids" });
}

function sentence(results) {
  const st = (results.mlst || [])[0];
  const onPlasmid = (results.genes || []).filter((g) => g.location && g.location.kind === "plasmid");
  const parts = [];
  if (st) parts.push(`${st.st} (${st.label || st.scheme})`);
  const byContig = new Map();  // genes grouped by the replicons of their contig
  for (const g of onPlasmid) byContig.set(locationText(g), [...(byContig.get(locationText(g)) || []), g.gene]);
  const groups = [...byContig].map(([where, genes]) => `${[...new Set(genes)].join(", ")} on the ${where}`);
  if (groups.length) parts.push(groups.join("; "));
  return parts.join(" with ");
}

// null for a job that typed nothing (reads, or a job from before typing).
export function typingSection(results) {
  if (!("mlst" in results) || results.typing_database === null || results.typing_database === undefined) return null;
  const mlst = results.mlst || [];
  const plasmids = results.plasmids || [];
  const box = h("section", { class: "card", id: "typing" }, h("h2", {}, "Typing"));
  const line = sentence(results);
  if (line) box.append(h("p", { class: "lead", id: "typing-summary" }, line + "."));
  box.append(h("h3", {}, "MLST"), mlst.length ? mlstTable(mlst)
    : h("p", { class: "muted" }, "No MLST scheme for this sample (schemes: K. pneumoniae and K. oxytoca complexes, E. coli)."));
  box.append(h("h3", {}, `Plasmid replicons (${plasmids.length})`), plasmids.length ? plasmidsTable(plasmids)
    : h("p", { class: "muted" }, "No plasmid replicon found."));
  const db = results.typing_database || {};
  const pf = db.plasmidfinder || {};
  box.append(h("p", { class: "muted" },
    `MLST schemes from ${(db.mlst || {}).source || "?"}; PlasmidFinder ${pf.version || "?"} (commit ${(pf.commit || "").slice(0, 10)}) from ${pf.source || "?"}. ` +
    "Chromosome-like: the gene's contig carries no replicon (in a draft assembly a plasmid contig may lack one)."));
  return box;
}

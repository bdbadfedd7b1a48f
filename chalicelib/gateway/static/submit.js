// Submit: drop many genomes (FASTA) or read pairs (FASTQ), pick a species, watch each
// upload go straight to S3 with its job's presigned POST.
import { api, uploadFile } from "./api.js";
import { h, clear, fill, errorBox, fmtBytes, progressBar, table } from "./dom.js";
import { SPECIES } from "./species.js";

const FASTA = /\.(fa|fasta|fna|fas)(\.gz)?$/i;
const FASTQ = /\.(fq|fastq)(\.gz)?$/i;
const MATE = /^(.+?)_(R?)([12])(\.(?:fq|fastq)(?:\.gz)?)$/i;
const PARALLEL_UPLOADS = 3;

function sampleName(filename) {
  return filename.replace(/\.gz$/i, "").replace(/\.(fa|fasta|fna|fas|fq|fastq)$/i, "");
}

/**
 * Group files into samples: `X_R1`/`X_R2` (or `X_1`/`X_2`) FASTQ mates form one sample,
 * every other FASTA or FASTQ is a sample of its own; anything else is refused, with why.
 */
export function planSamples(files) {
  const samples = [];
  const mates = new Map();
  for (const file of files) {
    const m = MATE.exec(file.name);
    if (m) {
      const key = `${m[1]}_${m[2].toUpperCase()}|${m[4].toLowerCase()}`;
      const pair = mates.get(key) || { name: m[1], files: [] };
      pair.files[Number(m[3]) - 1] = file;
      mates.set(key, pair);
    } else if (FASTA.test(file.name) || FASTQ.test(file.name)) {
      samples.push({ name: sampleName(file.name), file });
    } else {
      samples.push({ name: file.name, file, problem: "not a FASTA (.fa .fasta .fna .fas) or FASTQ (.fq .fastq) file, optionally .gz" });
    }
  }
  for (const pair of mates.values()) {
    const [first, second] = pair.files;
    if (first && second) samples.push({ name: pair.name, file: first, mate: second });
    else samples.push({ name: sampleName((first || second).name), file: first || second });
  }
  return samples;
}

export function submitPage(scope) {
  let samples = [];
  const picker = h("input", { type: "file", id: "files", multiple: true, class: "visually-hidden",
    accept: ".fa,.fasta,.fna,.fas,.fq,.fastq,.gz" });
  const zone = h("label", { for: "files", class: "dropzone", id: "dropzone", tabindex: "0", role: "button",
    "aria-describedby": "drop-help" },
    h("strong", {}, "Drop genomes or read pairs here"),
    h("span", { id: "drop-help" }, " or press Enter to choose files. FASTA assemblies (.fa .fasta .fna .fas) or "
      + "Illumina reads (.fq .fastq; mates named X_R1/X_R2 or X_1/X_2 are paired), optionally gzip-compressed."));
  const list = h("div", { id: "planned" });
  const species = h("select", { id: "species", name: "species" },
    SPECIES.map(([value, label]) => h("option", { value }, label)));
  const asBatch = h("input", { type: "checkbox", id: "as-batch" });
  const batchName = h("input", { id: "batch-name", name: "batch_name", placeholder: "e.g. run 2026-11-27", disabled: true });
  const go = h("button", { type: "button", class: "primary", id: "submit-files", disabled: true }, "Submit");
  const out = h("div", { id: "submit-result", "aria-live": "polite" });

  const redraw = () => {
    clear(list);
    go.disabled = !samples.some((s) => !s.problem);
    if (!samples.length) return;
    list.append(table(["Sample", "File(s)", "Size", "Upload"], samples.map((s, i) => {
      s.row = h("td", { class: "upload-cell" }, s.problem ? h("span", { class: "error" }, s.problem) : "waiting");
      return h("tr", { "data-sample": s.name },
        h("td", {}, s.name),
        h("td", {}, s.mate ? [s.file.name, h("br"), s.mate.name] : s.file.name),
        h("td", {}, fmtBytes(s.file.size + (s.mate ? s.mate.size : 0))),
        s.row);
    }), { class: "planned" }));
  };
  const add = (files) => {
    const known = new Set(samples.flatMap((s) => [s.file, s.mate].filter(Boolean).map((f) => f.name)));
    const fresh = [...files].filter((f) => !known.has(f.name));
    const previous = samples.flatMap((s) => [s.file, s.mate].filter(Boolean));
    samples = planSamples([...previous, ...fresh]);
    clear(out);
    redraw();
  };
  picker.addEventListener("change", () => add(picker.files));
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); picker.click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    add(e.dataTransfer.files);
  });
  asBatch.addEventListener("change", () => { batchName.disabled = !asBatch.checked; });

  go.addEventListener("click", async () => {
    const ready = samples.filter((s) => !s.problem && !s.done);
    if (!ready.length) return;
    go.disabled = true;
    clear(out);
    const params = species.value === "other" ? undefined : { species: species.value };
    try {
      if (asBatch.checked) await submitBatch(ready, batchName.value.trim(), params, out);
      else await submitJobs(ready, params, out);
    } catch (e) {
      out.append(errorBox(e.message));
    }
    go.disabled = !samples.some((s) => !s.problem && !s.done);
  });

  scope.main.append(
    h("h1", {}, "Submit genomes"),
    h("section", { class: "card" },
      zone, picker, list,
      h("div", { class: "row" },
        h("div", { class: "field" }, h("label", { for: "species" }, "Species"), species),
        h("div", { class: "field" },
          h("span", { class: "check" }, asBatch, h("label", { for: "as-batch" }, "Submit together as a batch")),
          h("label", { for: "batch-name", class: "visually-hidden" }, "Batch name"), batchName)),
      go, out));
}

function setCell(sample, ...content) {
  fill(sample.row, ...content);
}

async function uploadSample(sample, opened) {
  const total = sample.file.size + (sample.mate ? sample.mate.size : 0) || 1;
  let sent = [0, 0];
  const bar = progressBar(0, `Upload of ${sample.name}`);
  setCell(sample, bar);
  const show = () => {
    const pct = (100 * (sent[0] + sent[1])) / total;
    bar.querySelector("progress").value = pct;
    bar.querySelector(".pct").textContent = `${Math.round(pct)}%`;
  };
  const uploads = [uploadFile(opened.upload, sample.file, (f) => { sent[0] = f * sample.file.size; show(); })];
  if (sample.mate) {
    if (!opened.mate_upload) throw new Error("The service did not accept the second read file of this pair");
    uploads.push(uploadFile(opened.mate_upload, sample.mate, (f) => { sent[1] = f * sample.mate.size; show(); }));
  }
  await Promise.all(uploads);
  sample.done = true;
  show();
  setCell(sample, bar, h("span", { class: "ok" }, " uploaded · "),
    h("a", { href: `#/jobs/${encodeURIComponent(opened.job.job_id)}` }, "view job"));
}

/** Run `work(item)` for every item, `limit` at a time; failures are shown per sample. */
async function pool(items, limit, work) {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (e) {
        setCell(item, h("span", { class: "error", role: "alert" }, e.message));
      }
    }
  });
  await Promise.all(runners);
}

async function submitJobs(samples, params, out) {
  await pool(samples, PARALLEL_UPLOADS, async (s) => {
    setCell(s, "creating job…");
    const body = { job_name: s.name, filename: s.file.name };
    if (params) body.params = params;
    if (s.mate) body.mate_filename = s.mate.name;
    const opened = await api("POST", "jobs", body);
    await uploadSample(s, opened);
  });
  const done = samples.filter((s) => s.done).length;
  out.append(h("p", { class: done === samples.length ? "ok" : "error", role: "status" },
    `${done} of ${samples.length} job(s) submitted. `, h("a", { href: "#/jobs" }, "Follow them in the job list")));
}

async function submitBatch(samples, name, params, out) {
  if (!name) throw new Error("Please give the batch a name.");
  const body = {
    batch_name: name,
    samples: samples.map((s) => ({ name: s.name, filename: s.file.name, ...(s.mate ? { mate_filename: s.mate.name } : {}) })),
  };
  if (params) body.params = params;
  const created = await api("POST", "batches", body);
  const opened = new Map(samples.map((s, i) => [s, created.jobs[i]]));
  await pool(samples, PARALLEL_UPLOADS, (s) => uploadSample(s, opened.get(s)));
  const id = created.batch.batch_id;
  out.append(h("p", { class: "ok", role: "status" }, `Batch “${created.batch.batch_name}” submitted. `,
    h("a", { href: `#/batches/${encodeURIComponent(id)}` }, "Open the batch")));
}

"""The sample × antibiotic matrix of a batch (design §13).

Cost, whatever the batch holds: the Query pages of its jobs (about 1 per 400 jobs, since
an item is ~2.5 KB and a page 1 MB) plus one GetObject of `predictions.json` per finished
sample, read by a small thread pool. For 500 finished samples that is 2 Query pages and
500 GetObjects, a few seconds in all.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.core import tsv
from chalicelib.core.errors import ServiceError
from chalicelib.core.tables import BatchModel, JobModel, plain
from chalicelib.jobs import api as jobs_api
from chalicelib.jobs import lifecycle, queries

WORKERS = 16
FINISHED = (lifecycle.COMPLETED, lifecycle.ARCHIVED)
CALL_OF = {"Resistant": "R", "No resistance": "S"}
#: Stronger calls win when an antibiotic appears under two classes.
RANK = {"R": 2, "?": 1, "S": 1, "": 0}
#: design §19: an absence in a sample that failed QC is not evidence: `?`, never `S`.
QC_FAILED = "FAIL"


def _read(job: JobModel) -> dict[str, Any] | str:
    """The job's predictions, or why they cannot be read (the matrix still answers)."""
    try:
        return jobs_api.read_predictions(job)
    except ServiceError as exc:
        return exc.message


def _calls(job: JobModel, predictions: dict[str, Any] | None) -> dict[str, str]:
    calls: dict[str, str] = {}
    if predictions and predictions.get("phenotypes"):
        for row in predictions["phenotypes"]:
            name, call = str(row.get("antimicrobial", "")), CALL_OF.get(str(row.get("phenotype")), "")
            if name and RANK[call] >= RANK[calls.get(name, "")]:
                calls[name] = call
    elif job.status in FINISHED:  # results written before the phenotype table existed
        for name in (plain(job.summary) or {}).get("resistant", []):
            calls[str(name)] = "R"
    qc = (predictions or {}).get("qc")
    if isinstance(qc, dict) and qc.get("verdict") == QC_FAILED:
        calls = {name: "?" if call == "S" else call for name, call in calls.items()}
    return calls


def _row(job: JobModel, read: dict[str, Any] | str | None) -> dict[str, Any]:
    predictions = read if isinstance(read, dict) else None
    summary = plain(job.summary) or {}
    if predictions is not None:
        genes = sorted({str(g.get("gene")) for g in predictions.get("genes", []) if g.get("gene")})
        mutations = [str(m.get("mutation")) for m in predictions.get("mutations", []) if m.get("mutation")]
    else:
        genes, mutations = list(summary.get("gene_names", [])), list(summary.get("mutation_names", []))
    error = job.error or (read if isinstance(read, str) else None)
    st, replicons = _typing(predictions, summary)
    return {
        "sample": job.job_name,
        "job_id": job.job_id,
        "status": job.status,
        "calls": _calls(job, predictions),
        "genes": genes,
        "mutations": mutations,
        "error": error,
        "st": st,
        "replicons": replicons,
    }


def _typing(predictions: dict[str, Any] | None, summary: dict[str, Any]) -> tuple[str, list[str]]:
    """The sample's ST (first MLST scheme, "" when untyped) and replicon names (design §20)."""
    if predictions is not None and "mlst" in predictions:
        calls = predictions.get("mlst") or []
        st = str(calls[0].get("st") or "") if calls else ""
        names = sorted({str(p.get("name")) for p in predictions.get("plasmids") or [] if p.get("name")})
        return st, names
    return str(summary.get("st") or ""), [str(n) for n in summary.get("replicons", [])]


Reads = dict[str, dict[str, Any] | str]


def gather(batch: BatchModel) -> tuple[list[JobModel], Reads]:
    """The batch's jobs in submission order and, per finished job id, its predictions (or
    why they could not be read)."""
    jobs = queries.batch_jobs(batch.batch_id)
    finished = [j for j in jobs if j.status in FINISHED]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        reads = dict(zip((j.job_id for j in finished), pool.map(_read, finished), strict=False))
    return jobs, reads


def build(batch: BatchModel) -> dict[str, Any]:
    """Rows in submission order; columns are every antibiotic any finished sample's
    phenotype table names, alphabetically; unknown cells are empty."""
    return table(batch, *gather(batch))


def table(batch: BatchModel, jobs: list[JobModel], reads: Reads) -> dict[str, Any]:
    """The matrix of jobs already read by :func:`gather`."""
    rows = [_row(job, reads.get(job.job_id)) for job in jobs]
    antibiotics = sorted({name for row in rows for name in row["calls"]}, key=str.casefold)
    for row in rows:
        row["calls"] = {name: row["calls"].get(name, "") for name in antibiotics}
    return {"batch_id": batch.batch_id, "batch_name": batch.batch_name, "antibiotics": antibiotics, "rows": rows}


def to_tsv(matrix: dict[str, Any]) -> str:
    """The matrix as TSV; every cell opens as text in a spreadsheet (`core.tsv`)."""
    header = ["sample", "status", "st", "replicons", *matrix["antibiotics"], "genes", "mutations", "job_id"]
    rows = [
        [
            row["sample"],
            row["status"],
            row.get("st", ""),
            ", ".join(row.get("replicons", [])),
            *(row["calls"][a] for a in matrix["antibiotics"]),
            ", ".join(row["genes"]),
            ", ".join(row["mutations"]),
            row["job_id"],
        ]
        for row in matrix["rows"]
    ]
    return tsv.table(header, rows)

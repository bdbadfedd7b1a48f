"""Job commands: `jobs`, `show`, `watch`, `logs`, `results`, `cancel`, `delete`."""

from __future__ import annotations

import gzip
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from amrcli.api import Api, batch_path, job_path
from amrcli.app import JsonFlag, app, session
from amrcli.errors import CliError, Exit
from amrcli.live import any_failed, outcome_table, watch_jobs
from amrcli.output import Output, status_text
from amrcli.polling import follow_logs
from amrcli.views import RESISTANT, gene_rows, job_fields, phenotype_rows, resistant_antibiotics, typing_rows

JobId = Annotated[str, typer.Argument(help="Job id (from `amr jobs` or `amr submit`).", metavar="JOB")]
LEVEL_STYLES = {"ERROR": "bold red", "WARNING": "yellow", "INFO": ""}


class Status(str, Enum):
    Submitted = "Submitted"
    Running = "Running"
    Completed = "Completed"
    Error = "Error"
    Archived = "Archived"
    Cancelled = "Cancelled"


class Format(str, Enum):
    table = "table"
    json = "json"
    tsv = "tsv"
    hamronization = "hamronization"
    phenotypes = "phenotypes"
    pointfinder = "pointfinder"
    mlst = "mlst"
    plasmids = "plasmids"


#: `--format` → the result file it prints or writes.
FORMAT_FILES = {
    Format.json: "predictions.json",
    Format.tsv: "predictions.tsv",
    Format.hamronization: "hamronization.tsv",
    Format.phenotypes: "phenotypes.tsv",
    Format.pointfinder: "pointfinder.tsv",
    Format.mlst: "mlst.tsv",
    Format.plasmids: "plasmids.tsv",
}


@app.command("jobs")
def list_jobs(
    ctx: typer.Context,
    status: Annotated[Status | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Jobs per page.")] = 50,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, not only the newest.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Your jobs, newest first (Resistant: how many antibiotics; `amr results JOB` names them)."""
    s = session(ctx)
    api = s.api()
    jobs, token = api.pages("/jobs", "jobs", {"status": status.value if status else None, "limit": limit}, all_pages)
    if as_json:
        s.out.json({"jobs": jobs, "next_token": token})
        return
    rows = [
        [
            j["job_id"],
            j["job_name"],
            status_text(j["status"]),
            f"{float(j['progress'] or 0):g}%",
            j["created_at"],
            len(resistant_antibiotics(j)) if j.get("summary") else "",
        ]
        for j in jobs
    ]
    s.out.table(["Job", "Name", "Status", "Progress", "Created", "Resistant"], rows)
    if token and s.out.rich:
        s.out.note("More jobs: add --all.")


@app.command()
def show(ctx: typer.Context, job_id: JobId, as_json: JsonFlag = False) -> None:
    """One job: status, progress, times, input, parameters, error or findings."""
    s = session(ctx)
    job = s.api().call("GET", job_path(job_id))
    if as_json:
        s.out.json(job)
        return
    s.out.fields((k, status_text(v) if k == "status" else v) for k, v in job_fields(job))


@app.command()
def watch(
    ctx: typer.Context,
    job_id: Annotated[str | None, typer.Argument(help="Job id (or --batch).", metavar="JOB")] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="Follow every job of this batch.", metavar="BATCH")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Follow a job (or a batch's jobs) live until it ends; exit 1 if one ends in Error or Cancelled."""
    if (job_id is None) == (batch is None):
        raise typer.BadParameter("give a JOB or --batch BATCH (one of them)")
    s = session(ctx)
    api = s.api()
    if batch is not None:
        from amrcli.batches import batch_jobs

        api.call("GET", batch_path(batch))  # 404 names a missing batch, not an empty one
        start = batch_jobs(api, batch)
    else:
        start = [api.call("GET", job_path(str(job_id)))]
    final = watch_jobs(api, s.out, start)
    if as_json:
        s.out.json(final[0] if batch is None else {"jobs": final})
    else:
        outcome_table(s.out, final)
    if any_failed(final):
        raise typer.Exit(Exit.JOB_FAILED)


@app.command()
def logs(
    ctx: typer.Context,
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the job ends.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """A job's events, oldest first (with --json: one JSON object per line)."""
    s = session(ctx)

    def emit(event: dict[str, Any]) -> None:
        if as_json:
            s.out.json_line(event)
        else:
            level = str(event.get("level", ""))
            s.out.line(
                Text(f"{event.get('timestamp', '')}  ")
                + Text(f"{level:<7}", style=LEVEL_STYLES.get(level, "") if s.out.rich else "")
                + Text(f"  {event.get('message', '')}")
            )

    follow_logs(s.api(), job_id, emit, follow)


def _fetch(api: Api, urls: dict[str, str], name: str) -> bytes:
    """A result file by name; an Archived job's copy is `<name>.gz`, served decompressed."""
    if name in urls:
        return api.download(urls[name])
    if name + ".gz" in urls:
        return gzip.decompress(api.download(urls[name + ".gz"]))
    raise CliError(f"This job has no {name}", Exit.NOT_FOUND, f"Files it has: {', '.join(sorted(urls))}")


def _write_files(api: Api, out: Output, urls: dict[str, str], names: list[str], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = directory / name
        target.write_bytes(_fetch(api, urls, name))
        out.line(str(target))


def _phenotype_table(out: Output, predictions: dict[str, Any]) -> None:
    phenotypes = phenotype_rows(predictions)
    graded = any(row["match"] is not None for row in phenotypes)  # the gene profile has no match level
    rows = []
    for row in phenotypes:
        style = "bold red" if row["phenotype"] == RESISTANT else "green"
        match = ["" if row["match"] is None else row["match"]] if graded else []
        rows.append(
            [row["antimicrobial"], row["class"], Text(row["phenotype"], style=style), *match, row["determinants"]]
        )
    database = predictions.get("database") or {}
    title = f"Job {predictions.get('job_id')} · {database.get('name', '')} {database.get('version', '')}".strip()
    if predictions.get("species"):
        title += f" · {predictions['species']}"
    if rows:
        columns = ["Antimicrobial", "Class", "Phenotype", *(["Match"] if graded else []), "Genes and mutations"]
        out.table(columns, rows, title=title)
    else:
        out.note("No resistance determinant found.")
    genes = gene_rows(predictions)
    if genes and out.rich:
        out.table(["Gene", "Class", "Identity %", "Coverage %", "Location", "Sits on"], genes, title="Genes")
    mlst, plasmids = typing_rows(predictions)
    if mlst and out.rich:
        out.table(["Scheme", "ST", "Alleles"], mlst, title="MLST")
    if plasmids and out.rich:
        out.table(["Replicon", "Identity %", "Coverage %", "Contig", "Position"], plasmids, title="Plasmid replicons")


@app.command()
def results(
    ctx: typer.Context,
    job_id: JobId,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            help="table (phenotypes, resistant first), or a result file: "
            "json, tsv, hamronization, phenotypes, pointfinder, mlst, plasmids.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the result files into this directory (with --format: only that one).",
            file_okay=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A finished job's results: the phenotype table, or a result file."""
    s = session(ctx)
    api = s.api()
    if as_json:
        fmt = fmt or Format.json
    answer = api.call("GET", job_path(job_id, "results"))
    urls: dict[str, str] = answer.pop("download_urls", {}) or {}
    if output is not None:
        wanted = FORMAT_FILES.get(fmt) if fmt else None
        names = [wanted] if wanted else sorted(n.removesuffix(".gz") for n in urls)
        _write_files(api, s.out, urls, names, output)
    elif fmt in (None, Format.table):
        _phenotype_table(s.out, answer)
    elif fmt == Format.json:
        s.out.json(answer)
    else:
        sys.stdout.buffer.write(_fetch(api, urls, FORMAT_FILES[fmt]))
        sys.stdout.flush()


@app.command()
def cancel(ctx: typer.Context, job_ids: Annotated[list[str], typer.Argument(metavar="JOB...")]) -> None:
    """Cancel Submitted or Running jobs (a running prediction stops at its next batch)."""
    s = session(ctx)
    api = s.api()
    for job_id in job_ids:
        job = api.call("POST", job_path(job_id, "cancel"))
        s.out.line(f"{job['job_id']}\t{job['status']}")


@app.command()
def delete(ctx: typer.Context, job_ids: Annotated[list[str], typer.Argument(metavar="JOB...")]) -> None:
    """Delete jobs with their events, input and results (a Running job: cancel it first)."""
    s = session(ctx)
    api = s.api()
    for job_id in job_ids:
        api.call("DELETE", job_path(job_id))
        s.out.line(f"{job_id}\tdeleted")

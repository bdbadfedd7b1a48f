"""Batch commands: `batches`, `batch show|matrix|cancel|delete` (design §13, §14)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from amrcli.api import Api, batch_path
from amrcli.app import JsonFlag, app, session
from amrcli.output import Output, status_text

batch_app = typer.Typer(help="One batch: show, matrix, cancel, delete.", no_args_is_help=True)
app.add_typer(batch_app, name="batch")

BatchId = Annotated[str, typer.Argument(help="Batch id (from `amr batches` or `amr submit --batch`).", metavar="BATCH")]
BATCH_STYLES = {"Finished": "green", "Running": "cyan", "Cancelled": "yellow", "Submitted": ""}


class MatrixFormat(str, Enum):
    table = "table"
    json = "json"
    tsv = "tsv"
    xlsx = "xlsx"


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _counts(batch: dict[str, Any]) -> str:
    return ", ".join(f"{n} {status}" for status, n in batch["counts"].items() if n) or "empty"


def batch_jobs(api: Api, batch_id: str) -> list[dict[str, Any]]:
    """Every job of a batch, in sample order (all pages)."""
    return api.pages("/jobs", "jobs", {"batch_id": batch_id, "limit": 100})[0]


@app.command("batches")
def list_batches(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100, help="Batches per page.")] = 20,
    all_pages: Annotated[bool, typer.Option("--all", help="Every page, not only the newest.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Your batches, newest first."""
    s = session(ctx)
    api = s.api()
    batches, token = api.pages("/batches", "batches", {"limit": limit}, all_pages)
    if as_json:
        s.out.json({"batches": batches, "next_token": token})
        return
    rows = [
        [
            b["batch_id"],
            b["batch_name"],
            Text(b["status"], style=BATCH_STYLES.get(b["status"], "")),
            f"{float(b['progress']):g}%",
            b["total"],
            _counts(b),
            b["created_at"],
        ]
        for b in batches
    ]
    s.out.table(["Batch", "Name", "Status", "Progress", "Samples", "Jobs", "Created"], rows)
    if token and s.out.rich:
        s.out.note("More batches: add --all.")


@batch_app.command("show")
def show_batch(ctx: typer.Context, batch_id: BatchId, as_json: JsonFlag = False) -> None:
    """One batch: counts by status, progress, timing."""
    s = session(ctx)
    batch = s.api().call("GET", batch_path(batch_id))
    if as_json:
        s.out.json(batch)
        return
    timing = batch["timing"]
    s.out.fields(
        [
            ("batch_id", batch["batch_id"]),
            ("name", batch["batch_name"]),
            ("status", Text(batch["status"], style=BATCH_STYLES.get(batch["status"], ""))),
            ("progress", f"{float(batch['progress']):g}%"),
            ("samples", batch["total"]),
            ("jobs", _counts(batch)),
            ("source", batch["source"] + (f" (folder {batch['folder']})" if batch.get("folder") else "")),
            ("created", batch["created_at"]),
            ("started", timing.get("started_at")),
            ("finished", timing.get("finished_at")),
            ("elapsed", f"{timing['elapsed_seconds']:g} s" if timing.get("elapsed_seconds") is not None else None),
            (
                "mean job time",
                f"{timing['job_seconds_mean']:g} s" if timing.get("job_seconds_mean") is not None else None,
            ),
            ("params", batch.get("params")),
        ]
    )


def _matrix_table(out: Output, matrix: dict[str, Any]) -> None:
    """A terminal cannot show ~90 antibiotic columns: one row per sample with its R calls."""
    rows = []
    for row in matrix["rows"]:
        resistant = [a for a, call in row["calls"].items() if call == "R"]
        finished = any(row["calls"].values())
        found: Any = ", ".join(resistant) if resistant else ("none found" if finished else "")
        if row.get("error"):
            found = Text(row["error"], style="red")
        rows.append(
            [
                row["sample"],
                status_text(row["status"]),
                row.get("st", ""),
                found,
                ", ".join(row["genes"]),
                ", ".join(row["mutations"]),
                ", ".join(row.get("replicons") or []),
            ]
        )
    out.table(
        ["Sample", "Status", "ST", "Resistant to", "Genes", "Mutations", "Replicons"],
        rows,
        title=f"Batch {matrix['batch_name']} · {len(matrix['antibiotics'])} antibiotics",
    )
    if out.rich:
        out.note("Every antibiotic as a column: --format tsv, or the whole run as a workbook: --format xlsx -o FILE.")


@batch_app.command("matrix")
def matrix(
    ctx: typer.Context,
    batch_id: BatchId,
    fmt: Annotated[
        MatrixFormat,
        typer.Option(
            "--format",
            help="table (resistance per sample), json, tsv (sample × antibiotic), or xlsx (the batch workbook: "
            "summary, matrix, genes, mutations, plasmids, MLST, QC, settings; needs --output).",
        ),
    ] = MatrixFormat.table,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the TSV, JSON or workbook to this file.", dir_okay=False),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The sample × antibiotic matrix: R resistant, S no resistance found, ? no resistance found
    but the sample failed QC, empty not known yet."""
    s = session(ctx)
    if as_json:
        fmt = MatrixFormat.json
    if fmt == MatrixFormat.xlsx:
        if output is None:
            raise typer.BadParameter(
                "the workbook is a binary file: name it with --output FILE.xlsx", param_hint="--output"
            )
        data = s.api().binary(batch_path(batch_id, "matrix"), XLSX_MEDIA_TYPE, params={"format": "xlsx"})
        output.write_bytes(data)
        s.out.line(str(output))
        return
    api = s.api()
    if fmt == MatrixFormat.tsv:
        text = api.text(batch_path(batch_id, "matrix"), params={"format": "tsv"})
    else:
        data = api.call("GET", batch_path(batch_id, "matrix"))
        if fmt == MatrixFormat.table and output is None:
            _matrix_table(s.out, data)
            return
        import json

        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        s.out.line(str(output))
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


@batch_app.command("cancel")
def cancel_batch(ctx: typer.Context, batch_id: BatchId) -> None:
    """Cancel every Submitted or Running job of a batch."""
    s = session(ctx)
    batch = s.api().call("POST", batch_path(batch_id, "cancel"))
    s.out.line(f"{batch['batch_id']}\t{batch['status']}\t{_counts(batch)}")


@batch_app.command("delete")
def delete_batch(ctx: typer.Context, batch_id: BatchId) -> None:
    """Delete a batch with every job, event and file of it (cancel it first while jobs run)."""
    s = session(ctx)
    s.api().call("DELETE", batch_path(batch_id))
    s.out.line(f"{batch_id}\tdeleted")

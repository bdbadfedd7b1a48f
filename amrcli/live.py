"""The live view of running jobs (`watch`, `submit --wait`) and the table it ends with.

On a terminal: one rich progress bar per job with its status, on stderr. Without one:
a plain line whenever a job changes status. Either way stdout gets only the final table
(or JSON), so `amr submit … --wait > results.tsv` works.
"""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from amrcli.api import Api
from amrcli.output import FAILED, STATUS_STYLES, Output, status_text
from amrcli.polling import Poller, poll_jobs
from amrcli.views import resistant_antibiotics


def _status_markup(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return f"[{style}]{status}[/]" if style else status


def watch_jobs(api: Api, out: Output, jobs: list[dict[str, Any]], poller: Poller | None = None) -> list[dict[str, Any]]:
    """Follow `jobs` until each is terminal; their final states, in the same order."""
    ids = [j["job_id"] for j in jobs]
    progress = Progress(
        TextColumn("{task.description}", style="bold"),
        TextColumn("{task.fields[status]}", markup=True),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=out.err,
        disable=not out.bars,
    )
    tasks = {
        j["job_id"]: progress.add_task(
            j["job_name"], total=100, completed=int(float(j.get("progress") or 0)), status=_status_markup(j["status"])
        )
        for j in jobs
    }
    statuses = {j["job_id"]: j["status"] for j in jobs}

    def on_update(job: dict[str, Any]) -> None:
        job_id = job["job_id"]
        progress.update(tasks[job_id], completed=float(job["progress"] or 0), status=_status_markup(job["status"]))
        if not out.bars and statuses.get(job_id) != job["status"]:
            error = f": {job['error']}" if job.get("error") else ""
            out.note(f"{job['job_name']} ({job_id}) {job['status']}{error}")
        statuses[job_id] = job["status"]

    with progress:
        final = poll_jobs(api, ids, on_update, poller)
    return [final[i] for i in ids]


def outcome_table(out: Output, jobs: list[dict[str, Any]]) -> None:
    """Job, name, status and what it found: resistant antibiotics, or why it failed."""
    rows = []
    for job in jobs:
        if job["status"] in FAILED:
            found: Any = Text(job.get("error") or job["status"], style="red")
        else:
            found = ", ".join(resistant_antibiotics(job)) or "none found"
        rows.append([job["job_id"], job["job_name"], status_text(job["status"]), found])
    out.table(["Job", "Name", "Status", "Resistant to"], rows)


def any_failed(jobs: list[dict[str, Any]]) -> bool:
    return any(j["status"] in FAILED for j in jobs)

"""Jobs of the earlier service, imported in their final form (design §16).

`tools/legacy_import.py` reads the earlier service's database and hands the jobs here:
each is written with its events and counted as if it had gone through the lifecycle, a
few dozen per transaction (`chalicelib.jobs.transactions`), and a job whose id exists
already is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.core import clock
from chalicelib.core.aws import storage_call
from chalicelib.core.observability import count
from chalicelib.core.tables import STATUSES, JobModel
from chalicelib.jobs import transactions

#: `source` of jobs imported from the earlier service (design §16).
LEGACY_SOURCE = "legacy"
#: An imported job with the events to record (level, message) at the moment of import;
#: written like a batch's new jobs, a few dozen per transaction.
ImportedJob = transactions.JobWrite


def imported_job(*, job_id: str, user_id: str, status: str, created_at: str, **fields: Any) -> JobModel:
    """A job record for `import_jobs`. Retention counts from the import (the job entered
    its status in this service now), so history older than the policy's retention is
    not purged by the next maintenance run; `created_at`, `started_at`, `completed_at`
    keep the original times."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    ts = clock.now_iso()
    fields.setdefault("updated_at", ts)
    return JobModel(
        job_id,
        user_id=user_id,
        status=status,
        user_status=f"{user_id}#{status}",
        created_at=created_at,
        status_changed_at=ts,
        expires_at=transactions.expiry(status, ts),
        source=LEGACY_SOURCE,
        **fields,
    )


@storage_call("import_jobs")
def import_jobs(batch: Sequence[ImportedJob]) -> list[str]:
    """Write imported jobs in whatever status they have, each with its events, and
    count them, transaction by transaction; a job whose id exists already is never
    overwritten. Returns the ids that existed (and were left alone)."""
    present: list[str] = []
    for chunk in transactions.job_chunks(batch):
        while chunk:
            try:
                transactions.write_jobs(chunk, {"source": LEGACY_SOURCE})
                count("jobs.imported", len(chunk))
                break
            except transactions.ConditionFailed as exc:
                positions = _job_positions(chunk)
                refused = {
                    positions[i] for i, r in enumerate(exc.reasons) if r == "ConditionalCheckFailed" and i in positions
                }
                if not refused:
                    raise
                present += [chunk[i].job.job_id for i in sorted(refused)]
                chunk = [item for i, item in enumerate(chunk) if i not in refused]
    return present


def _job_positions(chunk: list[ImportedJob]) -> dict[int, int]:
    """Transaction item index of each job's put -> its index in `chunk`."""
    out, at = {}, 0
    for index, item in enumerate(chunk):
        out[at] = index
        at += item.size
    return out

"""Reads of jobs, their events and statistics: the access patterns of design §5.

Every read is a GetItem, a Query or a BatchGetItem of counter shards, never a Scan; a
list is read one Query per page, with a tamper-proof page token
(`chalicelib.core.pagination`). Writes are in `chalicelib.jobs.lifecycle`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.core import pagination
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import NotFound
from chalicelib.core.tables import STATUSES, JobEventModel, JobModel
from chalicelib.jobs import counters

#: `lifecycle.SUBMITTED` (the lifecycle reads through this module, so it is not imported).
SUBMITTED = STATUSES[0]
GLOBAL_SCOPE = counters.GLOBAL_SCOPE
user_scope = counters.user_scope


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_token: str | None


@storage_call("get_job")
def get_job(job_id: str) -> JobModel:
    try:
        return JobModel.get(job_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("Job not found") from None


def get_job_for(job_id: str, user_id: str, is_admin: bool = False) -> JobModel:
    """The job if the caller may see it; someone else's job is NotFound, not Forbidden."""
    job = get_job(job_id)
    if job.user_id != user_id and not is_admin:
        raise NotFound("Job not found")
    return job


def _page(result: Any, limit: int, scope: str) -> Page:
    items = list(itertools.islice(result, limit))
    return Page(items, pagination.encode(result.last_evaluated_key, scope))


@storage_call("list_events")
def list_events(job_id: str, limit: int = 100, next_token: str | None = None) -> Page:
    """A job's events oldest first, one Query per page."""
    scope = f"events:{job_id}"
    result = JobEventModel.query(
        job_id, limit=limit, page_size=limit, last_evaluated_key=pagination.decode(next_token, scope)
    )
    return _page(result, limit, scope)


@storage_call("list_jobs")
def list_user_jobs(user_id: str, status: str | None = None, limit: int = 50, next_token: str | None = None) -> Page:
    """A user's jobs newest first, optionally of one status; one Query per page."""
    scope = f"jobs:{user_id}:{status or '*'}"
    start = pagination.decode(next_token, scope)
    page: dict[str, Any] = {
        "scan_index_forward": False,
        "limit": limit,
        "page_size": limit,
        "last_evaluated_key": start,
    }
    if status is None:
        result = JobModel.user_created_index.query(user_id, **page)
    else:
        result = JobModel.user_status_index.query(f"{user_id}#{status}", **page)
    return _page(result, limit, scope)


@storage_call("list_jobs")
def list_batch_jobs(batch_id: str, user_id: str | None, limit: int = 50, next_token: str | None = None) -> Page:
    """A batch's jobs in submission order, one Query per page on `batch-order-index`;
    with `user_id`, only that user's (another user's batch lists nothing)."""
    scope = f"batch-jobs:{batch_id}:{user_id or '*'}"
    result = JobModel.batch_jobs_index.query(
        batch_id,
        filter_condition=(JobModel.user_id == user_id) if user_id else None,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, scope),
    )
    return _page(result, limit, scope)


@storage_call("batch_jobs")
def batch_jobs(batch_id: str) -> list[JobModel]:
    """Every job of a batch, in submission order (Query pages of up to 1 MB each).

    Read whole inside the storage boundary: a lazy iterator would raise a storage
    failure outside it, past the 503 into a 500."""
    return list(JobModel.batch_jobs_index.query(batch_id))


@storage_call("list_jobs")
def list_jobs_in_status(status: str, limit: int = 50, next_token: str | None = None) -> Page:
    """Every user's jobs in one status, newest status change first (admins); one Query
    per page on `status-changed-index`, never a Scan."""
    scope = f"jobs:*:{status}"
    result = JobModel.status_changed_index.query(
        status,
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, scope),
    )
    return _page(result, limit, scope)


@storage_call("jobs_by_status")
def jobs_by_status(
    status: str, *, changed_before: str | None = None, limit: int = 100, last_key: dict[str, Any] | None = None
) -> tuple[list[JobModel], dict[str, Any] | None]:
    """Jobs in `status` that entered it before `changed_before`, oldest first.

    The age cut-off is a key condition, so DynamoDB reads only the due jobs: a
    maintenance run costs what it finds, not what the table holds.
    """
    condition = JobModel.status_changed_at < changed_before if changed_before else None
    result = JobModel.status_changed_index.query(
        status, condition, scan_index_forward=True, limit=limit, page_size=limit, last_evaluated_key=last_key
    )
    items = list(itertools.islice(result, limit))
    return items, result.last_evaluated_key


@storage_call("jobs_waiting_for_mate")
def jobs_waiting_for_mate(
    *, changed_after: str, changed_before: str, limit: int = 100, last_key: dict[str, Any] | None = None
) -> tuple[list[JobModel], dict[str, Any] | None]:
    """Submitted paired-reads jobs that entered Submitted in [`changed_after`,
    `changed_before`] and were not reported as lone mates yet, oldest first: a slice of
    `status-changed-index`, so the cost is the jobs created in that slice of time."""
    result = JobModel.status_changed_index.query(
        SUBMITTED,
        JobModel.status_changed_at.between(changed_after, changed_before),
        filter_condition=JobModel.mate_key.exists() & JobModel.mate_reported_at.does_not_exist(),
        scan_index_forward=True,
        limit=limit,
        page_size=limit,
        last_evaluated_key=last_key,
    )
    items = list(itertools.islice(result, limit))
    return items, result.last_evaluated_key


@storage_call("get_stats")
def get_stats(scope: str) -> dict[str, Any]:
    """Statistics of one scope from its counter shards: one BatchGetItem, never a Scan."""
    totals = counters.read(scope)
    by_status = {status: int(totals[f"n_{status.lower()}"]) for status in STATUSES}
    finished = totals["completed_total"] + totals["error_total"]
    models = [("resfinder", int(totals["model_resfinder"]))]
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "success_rate": round(totals["completed_total"] / finished, 4) if finished else None,
        "avg_duration_seconds": (
            round(totals["duration_sum"] / totals["duration_count"], 3) if totals["duration_count"] else None
        ),
        "top_models": [{"model_name": name, "count": n} for name, n in sorted(models, key=lambda m: -m[1]) if n],
    }

"""What a batch does to all of its jobs: cancel them, delete them.

Each job goes through the same functions as its own route (`jobs.api.cancel`,
`jobs.api.remove`), so a batch never bypasses the state machine. Jobs are handled by a
small thread pool: a 500-sample deletion is a few thousand storage calls, which one by
one would outlast API Gateway's 29-second limit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib.batches import store
from chalicelib.core.errors import Conflict, InvalidTransition
from chalicelib.core.tables import BatchModel, JobModel
from chalicelib.jobs import api as jobs_api
from chalicelib.jobs import lifecycle, queries

#: Concurrent storage calls of one batch action (boto3 clients are thread-safe).
WORKERS = 8


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _each(jobs: list[JobModel], act: Callable[[JobModel], bool]) -> Outcome:
    outcome = Outcome()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for job, acted in zip(jobs, pool.map(act, jobs), strict=False):
            (outcome.done if acted else outcome.skipped).append(job.job_id)
    return outcome


def cancel(batch: BatchModel, by: str) -> Outcome:
    """Cancel every Submitted or Running job of the batch; finished ones stay as they are."""
    jobs = [j for j in queries.batch_jobs(batch.batch_id) if j.status not in lifecycle.TERMINAL]

    def act(job: JobModel) -> bool:
        try:
            jobs_api.cancel(job, by)
        except (Conflict, InvalidTransition):
            return False  # it finished meanwhile
        return True

    outcome = _each(jobs, act)
    store.mark_cancelled(batch)
    return outcome


def delete(batch: BatchModel) -> Outcome:
    """Delete every job (objects, events, record), then the batch. A Running job refuses
    (cancel the batch first), leaving the batch in place; a retry finishes the rest."""
    jobs = queries.batch_jobs(batch.batch_id)
    running = [j.job_id for j in jobs if j.status == lifecycle.RUNNING]
    if running:
        raise Conflict(
            f"{len(running)} job(s) of this batch are Running; cancel the batch, then delete it once they have stopped"
        )

    def act(job: JobModel) -> bool:
        jobs_api.remove(job)
        return True

    outcome = _each(jobs, act)
    if not store.remove_if_empty(batch.batch_id):
        raise Conflict("A job joined the batch while it was being deleted; delete it again")
    return outcome

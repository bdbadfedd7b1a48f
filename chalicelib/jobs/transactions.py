"""How job records are written (design §4): one DynamoDB transaction per change.

A transaction writes the job record on a condition, adjusts the per-user and global
counters (sharded, see `chalicelib.jobs.counters`) and appends the job events — so the
record, the statistics and the log never disagree. A refused condition changes nothing
and raises `InvalidTransition`; DynamoDB's transient conflicts are retried.

The state machine (`chalicelib.jobs.lifecycle`), the legacy import
(`chalicelib.jobs.imports`) and the batches table build their transactions on these.
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.core import bounds, clock
from chalicelib.core.errors import InvalidTransition
from chalicelib.core.tables import STATUSES, CounterModel, JobEventModel, JobModel, connection
from chalicelib.jobs import counters

_, _, COMPLETED, ERROR, ARCHIVED, CANCELLED = STATUSES

#: Extra time past the policy's retention before DynamoDB's TTL removes a record; the
#: purge task deletes (with its objects) well before, TTL is only the safety net.
TTL_GRACE = timedelta(days=7)
MAX_TX_ATTEMPTS = 5
#: DynamoDB's limit of items in one transaction.
MAX_TX_ITEMS = 100

_event_seq = itertools.count()
_event_origin = f"{os.getpid() % 10000:04d}{random.randrange(16**4):04x}"


def expiry(status: str, changed_at: str) -> Any:
    """When DynamoDB's TTL may remove a record that entered `status` at `changed_at`."""
    from chalicelib.jobs.policy import get_policy  # pydantic + yaml: loaded on first write only

    days = get_policy().retention_days.days(status)
    return clock.parse_iso(changed_at) + timedelta(days=days) + TTL_GRACE


def _event_key(timestamp: str) -> str:
    """Sorts by time; the sequence orders events of one process within a millisecond."""
    return f"{timestamp}#{next(_event_seq):010d}-{_event_origin}"


def new_event(job_id: str, message: str, level: str, timestamp: str, data: dict[str, Any] | None) -> JobEventModel:
    """A job event, not yet written (a transaction saves it with the change it records)."""
    return JobEventModel(
        job_id, _event_key(timestamp), timestamp=timestamp, level=level, message=bounds.clip(message), data=data
    )


def add_to_counters(
    tx: TransactWrite, user_id: str, job_id: str, deltas: Mapping[str, float], batch_id: str | None = None
) -> None:
    """Add `deltas` (counter attribute -> amount) to the counter shards of `job_id`
    inside `tx`: how jobs written many at a time (imports, batches) are counted;
    `counters` keeps the item layout."""
    actions = [getattr(CounterModel, name).add(amount) for name, amount in sorted(deltas.items()) if amount]
    if actions:
        counters.add_in(tx, user_id=user_id, job_id=job_id, actions=actions, batch_id=batch_id)


def counter_deltas(job: JobModel) -> dict[str, float]:
    """What a job in its status has added to the counters over its life, as if it had
    been created and moved here through `lifecycle.create_job` and `lifecycle.transition`."""
    deltas: dict[str, float] = {CounterModel.status_attr(job.status).attr_name: 1, "created_total": 1}
    model_attr = CounterModel.model_attr(job.model_name or "")
    if model_attr is not None:
        deltas[model_attr.attr_name] = 1
    if job.status in (COMPLETED, ARCHIVED):
        deltas["completed_total"] = 1
        if job.started_at and job.completed_at:
            seconds = (clock.parse_iso(job.completed_at) - clock.parse_iso(job.started_at)).total_seconds()
            if seconds >= 0:
                deltas["duration_sum"], deltas["duration_count"] = round(seconds, 3), 1
    elif job.status == ERROR:
        deltas["error_total"] = 1
    elif job.status == CANCELLED:
        deltas["cancelled_total"] = 1
    return deltas


class ConditionFailed(InvalidTransition):
    """A refused transaction, with DynamoDB's per-item reasons (None where it passed)."""

    def __init__(self, message: str, reasons: list[str | None]) -> None:
        super().__init__(message)
        self.reasons = reasons


def run_transaction(build: Any, what: str) -> None:
    """Commit a transaction, retrying only DynamoDB's transient TransactionConflict.

    Conflicts arise when two transactions touch one counter shard at once (rare since
    counters are sharded); they are not a verdict on our condition, so we retry with
    jittered backoff. A failed condition is a verdict and becomes InvalidTransition.
    """
    for attempt in range(MAX_TX_ATTEMPTS):
        try:
            with TransactWrite(connection=connection()) as tx:
                build(tx)
            return
        except TransactWriteError as exc:
            per_item = [r.code if r is not None else None for r in (exc.cancellation_reasons or [])]
            reasons = [r for r in per_item if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise ConditionFailed(what, per_item) from None
            if "TransactionConflict" in reasons and attempt + 1 < MAX_TX_ATTEMPTS:
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                continue
            raise


@dataclass(frozen=True)
class JobWrite:
    """A job written whole, in whatever status it has, with the events to record
    (level, message) with it: a new sample of a batch, or a job imported from the
    earlier service (design §16)."""

    job: JobModel
    events: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        return 1 + len(self.events)


def job_chunks(batch: Sequence[JobWrite]) -> list[list[JobWrite]]:
    """Transactions of one owner, batch and counter shard each (so each updates each
    counter item it touches once) within DynamoDB's item limit."""
    chunks: list[list[JobWrite]] = []
    by_user: dict[tuple[str, str | None, int], list[JobWrite]] = {}
    for item in batch:
        job = item.job
        by_user.setdefault((job.user_id, job.batch_id, counters.shard_of(job.job_id)), []).append(item)
    for items in by_user.values():
        chunk: list[JobWrite] = []
        for item in items:
            if chunk and sum(i.size for i in chunk) + item.size + 3 > MAX_TX_ITEMS:
                chunks.append(chunk)
                chunk = []
            chunk.append(item)
        chunks.append(chunk)
    return chunks


def write_jobs(chunk: list[JobWrite], event_data: dict[str, Any]) -> None:
    """One transaction: the jobs (none may exist), their events, their counts."""
    ts = clock.now_iso()
    totals: dict[str, float] = {}
    for item in chunk:
        for name, amount in counter_deltas(item.job).items():
            totals[name] = totals.get(name, 0) + amount

    def build(tx: TransactWrite) -> None:
        for item in chunk:
            tx.save(item.job, condition=JobModel.job_id.does_not_exist())
            for level, message in item.events:
                tx.save(new_event(item.job.job_id, message, level, ts, event_data))
        first = chunk[0].job
        add_to_counters(tx, first.user_id, first.job_id, {k: round(v, 3) for k, v in totals.items()}, first.batch_id)

    run_transaction(build, "a job exists already")

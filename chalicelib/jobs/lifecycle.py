"""The job lifecycle: the one place that knows the state machine (SPEC §4).

Every write is conditional. A transition is one DynamoDB transaction that moves the job
(on the condition that it is still in the status we read), adjusts the per-user and
global counters (sharded, see `chalicelib.jobs.counters`) and appends the job event — so
the record, the statistics and the log never disagree. A refused or lost race changes
nothing and raises `InvalidTransition`.
"""

from __future__ import annotations

import itertools
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.core import bounds, clock, pagination
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import Conflict, InvalidTransition, NotFound
from chalicelib.core.observability import count, logger
from chalicelib.core.tables import STATUSES, CounterModel, JobEventModel, JobModel, connection
from chalicelib.jobs import counters

SUBMITTED, RUNNING, COMPLETED, ERROR, ARCHIVED, CANCELLED = STATUSES

TRANSITIONS: dict[str, frozenset[str]] = {
    SUBMITTED: frozenset({RUNNING, CANCELLED}),
    RUNNING: frozenset({COMPLETED, ERROR, CANCELLED}),
    COMPLETED: frozenset({ARCHIVED}),
    ERROR: frozenset(),
    ARCHIVED: frozenset(),
    CANCELLED: frozenset(),
}
TERMINAL = frozenset({COMPLETED, ERROR, ARCHIVED, CANCELLED})

#: Fields a transition may set besides the lifecycle timestamps.
TRANSITION_FIELDS = frozenset(
    {"error", "result_keys", "archive_keys", "summary", "input_key", "input_size", "input_filename", "mate_size"}
)

#: Extra time past the policy's retention before DynamoDB's TTL removes a record; the
#: purge task deletes (with its objects) well before, TTL is only the safety net.
TTL_GRACE = timedelta(days=7)
MAX_TX_ATTEMPTS = 5
GLOBAL_SCOPE = counters.GLOBAL_SCOPE
user_scope = counters.user_scope
#: `source` of jobs imported from the earlier service (SPEC §16).
LEGACY_SOURCE = "legacy"

_event_seq = itertools.count()
_event_origin = f"{os.getpid() % 10000:04d}{random.randrange(16**4):04x}"


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_token: str | None


def can_transition(src: str, dst: str) -> bool:
    return dst in TRANSITIONS.get(src, frozenset())


def new_job_id() -> str:
    return str(uuid.uuid4())


def _expiry(status: str, changed_at: str) -> Any:
    from chalicelib.jobs.policy import get_policy  # pydantic + yaml: loaded on first write only

    days = get_policy().retention_days.days(status)
    return clock.parse_iso(changed_at) + timedelta(days=days) + TTL_GRACE


def _event_key(timestamp: str) -> str:
    """Sorts by time; the sequence orders events of one process within a millisecond."""
    return f"{timestamp}#{next(_event_seq):010d}-{_event_origin}"


def _event(job_id: str, message: str, level: str, timestamp: str, data: dict[str, Any] | None) -> JobEventModel:
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
    been created and moved here through `create_job` and `transition`."""
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


class _ConditionFailed(InvalidTransition):
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
                raise _ConditionFailed(what, per_item) from None
            if "TransactionConflict" in reasons and attempt + 1 < MAX_TX_ATTEMPTS:
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
                continue
            raise


def new_job(
    *,
    user_id: str,
    job_name: str,
    params: dict[str, Any],
    job_id: str | None = None,
    model_name: str = "resfinder",
    input_key: str | None = None,
    input_filename: str | None = None,
    source: str = "api",
    batch_id: str | None = None,
    batch_index: int | None = None,
    mate_key: str | None = None,
    mate_filename: str | None = None,
) -> JobModel:
    """A Submitted job record, not yet written (`create_job`, `create_jobs` write it).
    A job of a batch sorts in it by its sample index, or by time and id (drops)."""
    ts = clock.now_iso()
    job_id = job_id or new_job_id()
    order = None
    if batch_id is not None:
        order = f"{ts}#{batch_index:05d}" if batch_index is not None else f"{ts}#{job_id}"
    return JobModel(
        job_id,
        user_id=user_id,
        job_name=job_name,
        status=SUBMITTED,
        user_status=f"{user_id}#{SUBMITTED}",
        progress=0,
        created_at=ts,
        updated_at=ts,
        status_changed_at=ts,
        params=params,
        model_name=model_name,
        source=source,
        input_key=input_key,
        input_filename=input_filename,
        mate_key=mate_key,
        mate_filename=mate_filename,
        expires_at=_expiry(SUBMITTED, ts),
        batch_id=batch_id,
        batch_order=order,
    )


def create_job(**fields: Any) -> JobModel:
    """Create a Submitted job (fields as `new_job` takes them)."""
    return insert_job(new_job(**fields))


@storage_call("create_job")
def insert_job(job: JobModel) -> JobModel:
    """Write a job made by `new_job`. A `job_id` that exists already raises Conflict,
    which makes creation from at-least-once events idempotent."""
    counter_actions = [CounterModel.n_submitted.add(1), CounterModel.created_total.add(1)]
    model_attr = CounterModel.model_attr(job.model_name)
    if model_attr is not None:
        counter_actions.append(model_attr.add(1))

    def build(tx: TransactWrite) -> None:
        tx.save(job, condition=JobModel.job_id.does_not_exist())
        counters.add_in(tx, user_id=job.user_id, job_id=job.job_id, actions=counter_actions, batch_id=job.batch_id)
        tx.save(_event(job.job_id, f"Job submitted ({job.source})", "INFO", job.created_at, None))

    try:
        run_transaction(build, "job exists")
    except InvalidTransition:
        raise Conflict(f"Job {job.job_id} already exists") from None
    count("jobs.created")
    logger.info("job created", extra={"job_id": job.job_id, "user_id": job.user_id})
    return job


@storage_call("create_jobs")
def create_jobs(jobs: Sequence[JobModel]) -> None:
    """Write many new jobs (the samples of a batch) a few dozen per transaction: each
    transaction holds jobs of one counter shard, their events and one update of each
    counter item, so 500 samples take about 16 transactions, not 500."""
    items = [ImportedJob(job, (("INFO", f"Job submitted ({job.source})"),)) for job in jobs]
    for chunk in _job_chunks(items):
        _write_jobs(chunk, {"source": chunk[0].job.source})
    count("jobs.created", len(jobs))


#: DynamoDB's limit of items in one transaction.
MAX_TX_ITEMS = 100


@dataclass(frozen=True)
class ImportedJob:
    """A job brought into the service in its final form (SPEC §16), with the events to
    record (level, message) at the moment of import."""

    job: JobModel
    events: tuple[tuple[str, str], ...]

    @property
    def size(self) -> int:
        return 1 + len(self.events)


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
        expires_at=_expiry(status, ts),
        source=LEGACY_SOURCE,
        **fields,
    )


def _job_chunks(batch: Sequence[ImportedJob]) -> list[list[ImportedJob]]:
    """Transactions of one owner, batch and counter shard each (so each updates each
    counter item it touches once) within DynamoDB's item limit."""
    chunks: list[list[ImportedJob]] = []
    by_user: dict[tuple[str, str | None, int], list[ImportedJob]] = {}
    for item in batch:
        job = item.job
        by_user.setdefault((job.user_id, job.batch_id, counters.shard_of(job.job_id)), []).append(item)
    for items in by_user.values():
        chunk: list[ImportedJob] = []
        for item in items:
            if chunk and sum(i.size for i in chunk) + item.size + 3 > MAX_TX_ITEMS:
                chunks.append(chunk)
                chunk = []
            chunk.append(item)
        chunks.append(chunk)
    return chunks


@storage_call("import_jobs")
def import_jobs(batch: Sequence[ImportedJob]) -> list[str]:
    """Write imported jobs in whatever status they have, each with its events, and
    count them, transaction by transaction; a job whose id exists already is never
    overwritten. Returns the ids that existed (and were left alone)."""
    present: list[str] = []
    for chunk in _job_chunks(batch):
        while chunk:
            try:
                _write_jobs(chunk, {"source": LEGACY_SOURCE})
                count("jobs.imported", len(chunk))
                break
            except _ConditionFailed as exc:
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


def _write_jobs(chunk: list[ImportedJob], event_data: dict[str, Any]) -> None:
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
                tx.save(_event(item.job.job_id, message, level, ts, event_data))
        first = chunk[0].job
        add_to_counters(tx, first.user_id, first.job_id, {k: round(v, 3) for k, v in totals.items()}, first.batch_id)

    run_transaction(build, "a job exists already")


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


@storage_call("transition")
def transition(
    job: JobModel | str,
    dst: str,
    *,
    message: str | None = None,
    level: str | None = None,
    **fields: Any,
) -> JobModel:
    """Move a job to `dst` if the state machine allows it and nobody moved it first.

    Pass the job model to save the read (one call); pass an id to read it first.
    Returns the job as written.
    """
    if isinstance(job, str):
        job = get_job(job)
    unknown = set(fields) - TRANSITION_FIELDS
    if unknown:
        raise ValueError(f"not transition fields: {sorted(unknown)}")
    src = job.status
    if not can_transition(src, dst):
        raise InvalidTransition(f"Job is {src}; it cannot become {dst}")
    if isinstance(fields.get("error"), str):  # a message quoting input must fit the item (SPEC §23)
        fields["error"] = bounds.clip(fields["error"])

    ts = clock.now_iso()
    changes: dict[str, Any] = {
        "status": dst,
        "user_status": f"{job.user_id}#{dst}",
        "status_changed_at": ts,
        "updated_at": ts,
        "expires_at": _expiry(dst, ts),
        **fields,
    }
    if dst == RUNNING:
        changes["started_at"] = ts
        changes["heartbeat_at"] = ts
    if dst in (COMPLETED, ERROR, CANCELLED):
        changes["completed_at"] = ts
    if dst == COMPLETED:
        changes["progress"] = 100

    deltas = [CounterModel.status_attr(src).add(-1), CounterModel.status_attr(dst).add(1)]
    if dst == COMPLETED:
        deltas.append(CounterModel.completed_total.add(1))
        if job.started_at:
            seconds = (clock.parse_iso(ts) - clock.parse_iso(job.started_at)).total_seconds()
            deltas += [CounterModel.duration_sum.add(round(seconds, 3)), CounterModel.duration_count.add(1)]
    elif dst == ERROR:
        deltas.append(CounterModel.error_total.add(1))
    elif dst == CANCELLED:
        deltas.append(CounterModel.cancelled_total.add(1))
    deltas.append(CounterModel.last_changed_at.set(ts))
    if dst == RUNNING:
        deltas.append(CounterModel.first_started_at.set(CounterModel.first_started_at | ts))

    actions = [
        getattr(JobModel, name).remove() if value is None else getattr(JobModel, name).set(value)
        for name, value in changes.items()
    ]
    text = message or f"Status {src} -> {dst}" + (f": {fields['error']}" if fields.get("error") else "")
    event_level = level or ("ERROR" if dst == ERROR else "INFO")

    def build(tx: TransactWrite) -> None:
        tx.update(job, actions=actions, condition=JobModel.status == src)
        counters.add_in(tx, user_id=job.user_id, job_id=job.job_id, actions=deltas, batch_id=job.batch_id)
        tx.save(_event(job.job_id, text, event_level, ts, {"from": src, "to": dst}))

    run_transaction(build, f"Job {job.job_id} changed concurrently; it is no longer {src}")
    for name, value in changes.items():
        setattr(job, name, value)
    count(f"jobs.{dst.lower()}")
    logger.info("job transition", extra={"job_id": job.job_id, "from": src, "to": dst})
    return job


@storage_call("update_progress")
def update_progress(job_id: str, progress: float) -> bool:
    """Raise progress (0-100) and beat the heart; False if the job is no longer Running
    or already further along — the caller treats that as a signal to stop."""
    progress = max(0.0, min(100.0, float(progress)))
    ts = clock.now_iso()
    try:
        JobModel(job_id).update(
            actions=[
                JobModel.progress.set(round(progress, 2)),
                JobModel.heartbeat_at.set(ts),
                JobModel.updated_at.set(ts),
            ],
            condition=(JobModel.status == RUNNING) & (JobModel.progress <= round(progress, 2)),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


@storage_call("heartbeat")
def heartbeat(job_id: str) -> bool:
    """Record liveness of a running job; False if it is not Running any more."""
    try:
        JobModel(job_id).update(
            actions=[JobModel.heartbeat_at.set(clock.now_iso())],
            condition=JobModel.status == RUNNING,
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


@storage_call("mark_mate_reported")
def mark_mate_reported(job_id: str) -> bool:
    """Record (once) that maintenance reported a lone mate; False if already reported or
    the job is no longer Submitted, so a report is made exactly once."""
    try:
        JobModel(job_id).update(
            actions=[JobModel.mate_reported_at.set(clock.now_iso())],
            condition=(JobModel.status == SUBMITTED) & JobModel.mate_reported_at.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


@storage_call("append_event")
def append_event(job_id: str, message: str, level: str = "INFO", data: dict[str, Any] | None = None) -> None:
    _event(job_id, message, level, clock.now_iso(), data).save()


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
    if status is None:
        index, key = JobModel.user_created_index, user_id
    else:
        index, key = JobModel.user_status_index, f"{user_id}#{status}"
    result = index.query(key, scan_index_forward=False, limit=limit, page_size=limit, last_evaluated_key=start)
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


@storage_call("delete_events")
def delete_events(job_id: str) -> int:
    """Delete every event of a job (idempotent: run again after an interruption)."""
    deleted = 0
    with JobEventModel.batch_write() as batch:
        for event in JobEventModel.query(job_id, attributes_to_get=["job_id", "event_key"]):
            batch.delete(event)
            deleted += 1
    return deleted


@storage_call("delete_job")
def delete_job_record(job: JobModel) -> None:
    """Delete the record (on the condition its status is unchanged) and its counts.

    Callers delete objects and events first, so an interrupted deletion leaves the
    record in place for a retry to finish.
    """

    def build(tx: TransactWrite) -> None:
        tx.delete(job, condition=JobModel.status == job.status)
        counters.add_in(
            tx,
            user_id=job.user_id,
            job_id=job.job_id,
            actions=[CounterModel.status_attr(job.status).add(-1)],
            batch_id=job.batch_id,
        )

    run_transaction(build, f"Job {job.job_id} changed while being deleted; try again")
    count("jobs.deleted")


def delete_job(job: JobModel, *, allow_running: bool = False) -> None:
    """Delete a job's events and record (its S3 objects are the caller's, see s3layout)."""
    if job.status == RUNNING and not allow_running:
        raise InvalidTransition("Job is Running; cancel it before deleting it")
    delete_events(job.job_id)
    delete_job_record(job)


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

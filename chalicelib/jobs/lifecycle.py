"""The job lifecycle: the one place that knows the state machine (design §4).

Statuses and the moves between them, creating jobs, transitions, progress and heartbeat,
events, deletion. Every write is conditional: a transition is one DynamoDB transaction
(`chalicelib.jobs.transactions`) that moves the job on the condition that it is still in
the status we read, adjusts the counters and appends the job event. A refused or lost
race changes nothing and raises `InvalidTransition`. Reads are in `chalicelib.jobs.queries`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.core import bounds, clock
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import Conflict, InvalidTransition
from chalicelib.core.observability import count, logger
from chalicelib.core.tables import STATUSES, CounterModel, JobEventModel, JobModel
from chalicelib.jobs import counters, queries, transactions

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


def can_transition(src: str, dst: str) -> bool:
    return dst in TRANSITIONS.get(src, frozenset())


def new_job_id() -> str:
    return str(uuid.uuid4())


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
        expires_at=transactions.expiry(SUBMITTED, ts),
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
        tx.save(transactions.new_event(job.job_id, f"Job submitted ({job.source})", "INFO", job.created_at, None))

    try:
        transactions.run_transaction(build, "job exists")
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
    items = [transactions.JobWrite(job, (("INFO", f"Job submitted ({job.source})"),)) for job in jobs]
    for chunk in transactions.job_chunks(items):
        transactions.write_jobs(chunk, {"source": chunk[0].job.source})
    count("jobs.created", len(jobs))


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
        job = queries.get_job(job)
    unknown = set(fields) - TRANSITION_FIELDS
    if unknown:
        raise ValueError(f"not transition fields: {sorted(unknown)}")
    src = job.status
    if not can_transition(src, dst):
        raise InvalidTransition(f"Job is {src}; it cannot become {dst}")
    if isinstance(fields.get("error"), str):  # a message quoting input must fit the item (design §23)
        fields["error"] = bounds.clip(fields["error"])

    ts = clock.now_iso()
    changes: dict[str, Any] = {
        "status": dst,
        "user_status": f"{job.user_id}#{dst}",
        "status_changed_at": ts,
        "updated_at": ts,
        "expires_at": transactions.expiry(dst, ts),
        **fields,
    }
    if dst == RUNNING:
        changes["started_at"] = ts
        changes["heartbeat_at"] = ts
    if dst in (COMPLETED, ERROR, CANCELLED):
        changes["completed_at"] = ts
    if dst == COMPLETED:
        changes["progress"] = 100

    deltas: list[Action] = [CounterModel.status_attr(src).add(-1), CounterModel.status_attr(dst).add(1)]
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
        tx.save(transactions.new_event(job.job_id, text, event_level, ts, {"from": src, "to": dst}))

    transactions.run_transaction(build, f"Job {job.job_id} changed concurrently; it is no longer {src}")
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
    transactions.new_event(job_id, message, level, clock.now_iso(), data).save()


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

    transactions.run_transaction(build, f"Job {job.job_id} changed while being deleted; try again")
    count("jobs.deleted")


def delete_job(job: JobModel, *, allow_running: bool = False) -> None:
    """Delete a job's events and record (its S3 objects are the caller's, see s3layout)."""
    if job.status == RUNNING and not allow_running:
        raise InvalidTransition("Job is Running; cancel it before deleting it")
    delete_events(job.job_id)
    delete_job_record(job)

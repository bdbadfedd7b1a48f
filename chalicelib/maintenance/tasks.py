"""Scheduled maintenance (design §4): recover stalled jobs, purge by retention, archive.

The service looks after its own data. Every task finds its work through the
`status-changed-index` with the age cut-off as a key condition (`queries.jobs_by_status`),
so a run reads the jobs that are due and nothing else — its cost grows with the work
found, never with the table. No Scan anywhere.

Tasks, in the order a run performs them:
- **stalled**: a `Running` job whose last heartbeat (or start) is older than
  `stalled_running_minutes` becomes `Error` "worker stopped responding". Candidates are
  the Running jobs that *entered* Running before the cut-off; a long job that still
  heart-beats is skipped. That reads every Running job older than the threshold, which
  is acceptable because Lambda cannot run longer than 15 minutes (< 20): such jobs are
  dead or about to be declared dead, so there are few.
- **purge**: every status's retention (`retention_days`) counted from
  `status_changed_at`. A job is deleted objects first, then events, then its record
  (conditional on its status, which also adjusts the counters), so an interruption
  leaves the record in place and the next run — which finds it again at the head of
  the index — finishes it. `Running` jobs past their retention are purged only when
  they are also stalled (no heartbeat for `stalled_running_minutes`); a live one is
  skipped. Running is purged last so it can never starve the other statuses.
  Purge runs before archive: a Completed job already past its own retention is
  deleted as the policy says rather than archived for another 90 days.
- **archive**: a `Completed` job older than `archiving.min_age_days` (counted from
  `status_changed_at`, i.e. completion) has its result files and its input (if still
  there) gzip-compressed into the archive bucket under
  `archive/{user_id}/{job_id}/{name}.gz` with the policy's storage class; then the job
  becomes `Archived` with `archive_keys` = the archived *result* files (what
  `GET /jobs/{id}/results` serves); then the originals are deleted. Copy, transition,
  delete: an interruption before the transition leaves a Completed job with its
  originals (a rerun copies again, overwriting), after it an Archived job whose
  leftover originals are removed by its purge (`delete_job_objects` covers every
  prefix of the job).

Each task acts on at most `cleanup.max_jobs_per_run` jobs per run; the oldest due jobs
come first in the index, so the next run simply continues. One job's failure is
recorded in the report and the run goes on.

Safety net: every transition sets `JobModel.expires_at` (DynamoDB TTL) to
`status_changed_at` + retention + 7 days, so a record the purge never reaches still
expires a week after it was due (TTL deletes only the record; objects are the purge's).
"""

from __future__ import annotations

import contextvars
import functools
import gzip
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from boto3.exceptions import Boto3Error
from chalice.app import Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from chalicelib.batches import store as batches
from chalicelib.core import aws, clock, observability, web
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import NotFound, ServiceError, StorageUnavailable
from chalicelib.core.invoke import invoke_async
from chalicelib.core.observability import count, logger
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import JobModel
from chalicelib.jobs import imports, lifecycle, policy, queries, s3layout

Task = Literal["archive", "purge", "stalled"]
FailedTask = Literal["archive", "purge", "stalled", "cleanup"]
#: The order a run performs its tasks (see the module docstring for why).
TASK_ORDER: tuple[Task, ...] = ("stalled", "purge", "archive")
STALLED_ERROR = "worker stopped responding"
#: Purge order: Running last, so live long jobs can never use up the budget of the rest.
PURGE_STATUSES = (
    lifecycle.SUBMITTED,
    lifecycle.CANCELLED,
    lifecycle.ERROR,
    lifecycle.COMPLETED,
    lifecycle.ARCHIVED,
    lifecycle.RUNNING,
)
CLEANUP_STATUSES = (lifecycle.CANCELLED, lifecycle.ERROR, lifecycle.COMPLETED, lifecycle.ARCHIVED)
#: Stalled checks run every stalled_running_minutes / 4, at most every 5 minutes apart.
MAX_CLEANUP_DAYS = 36_500
#: Work per `DELETE /jobs/cleanup` call, well inside API Gateway's 29 s.
CLEANUP_SECONDS = 20.0
INPUT_TAG_JOB = s3layout.TAG_JOB
_DIGITS = re.compile(r"^[0-9]{1,9}$")
_COPY_CHUNK = 1024 * 1024
_SPOOL_BYTES = 8 * 1024 * 1024


# --- request and report models (also used by chalicelib.gateway.openapi) --------------


class MaintenanceRequest(BaseModel):
    """`POST /admin/maintenance`: which tasks to run now, and whether only to report."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tasks: list[Task] | None = Field(
        None,
        min_length=1,
        max_length=3,
        description="Tasks to run (default: all); they always run in the order stalled, purge, archive",
    )
    dry_run: bool = Field(False, description="Report what would be done without changing anything")

    @field_validator("tasks")
    @classmethod
    def _unique(cls, value: list[Task] | None) -> list[Task] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("must not repeat a task")
        return value

    def ordered_tasks(self) -> list[Task]:
        wanted = set(self.tasks or TASK_ORDER)
        return [t for t in TASK_ORDER if t in wanted]


class JobFailure(BaseModel):
    """A job (or a whole query, `job_id` null) the run could not handle; the next run retries."""

    task: FailedTask
    job_id: str | None = None
    status: str | None = None
    error: str


class JobSkip(BaseModel):
    """A due candidate deliberately left alone, with the reason."""

    task: Task
    job_id: str
    reason: str


class LoneMate(BaseModel):
    """One mate of a read pair that waited `stalled_running_minutes` x 3 without its partner."""

    job_id: str
    arrived: str = Field(description="Object key of the mate that arrived")
    missing: str = Field(description="Object key of the mate that never came")
    waiting_since: str


class MaintenanceReport(BaseModel):
    """What one run did (or, with `dry_run`, would do), with job ids."""

    dry_run: bool
    started_at: str
    finished_at: str
    tasks: list[Task] = Field(description="Tasks that ran")
    disabled: list[Task] = Field(default_factory=list, description="Requested but switched off by the policy")
    stalled: list[str] = Field(default_factory=list, description="Running jobs moved to Error")
    purged: list[str] = Field(default_factory=list, description="Jobs deleted with their events and objects")
    archived: list[str] = Field(default_factory=list, description="Completed jobs moved to cold storage")
    failed: list[JobFailure] = Field(default_factory=list)
    skipped: list[JobSkip] = Field(default_factory=list)
    lone_mates: list[LoneMate] = Field(
        default_factory=list, description="Read pairs whose second file never came (reported once per job)"
    )
    more_due: list[Task] = Field(
        default_factory=list, description="Tasks that stopped at cleanup.max_jobs_per_run; the next run continues"
    )


def _plain_days(value: Any) -> Any:
    """Query text must be plain digits: '5.0', '+5', '1_000' or ' 5' are not a day count."""
    if isinstance(value, str) and not _DIGITS.match(value):
        raise ValueError("must be a whole number of days (digits only)")
    return value


class CleanupQuery(BaseModel):
    """`DELETE /jobs/cleanup?days=N`: N ≥ 1, so a typo cannot delete every job finished a second ago."""

    model_config = ConfigDict(extra="forbid")

    days: Annotated[int, BeforeValidator(_plain_days)] = Field(
        ge=1, le=MAX_CLEANUP_DAYS, description="Delete terminal jobs that entered their status more than N days ago"
    )


class CleanupReport(BaseModel):
    """What `DELETE /jobs/cleanup` deleted; `more_due` asks the caller to call again."""

    deleted: list[str]
    count: int
    failed: list[JobFailure] = Field(default_factory=list)
    more_due: bool = Field(False, description="Stopped at cleanup.max_jobs_per_run; call again to continue")


# --- schedule rates (Chalice needs them at import time) -----------------------


# --- one run ------------------------------------------------------------------


@dataclass
class _Run:
    """State of one run: the policy and the instant every cut-off is computed from."""

    policy: policy.Policy
    dry_run: bool
    now: datetime
    report: MaintenanceReport
    handled: set[str] = field(default_factory=set)

    def cutoff(self, delta: timedelta) -> str:
        return clock.to_iso(self.now - delta)

    def fail(self, task: Task, job: JobModel | None, exc: BaseException) -> None:
        message = exc.message if isinstance(exc, ServiceError) else f"unexpected {type(exc).__name__} (logged)"
        log = logger.warning if isinstance(exc, ServiceError) else logger.exception
        log("maintenance step failed", extra={"task": task, "job_id": job.job_id if job else None, "error": repr(exc)})
        self.report.failed.append(
            JobFailure(task=task, job_id=job.job_id if job else None, status=job.status if job else None, error=message)
        )

    def attempt(self, task: Task, job: JobModel, action: Callable[[], None]) -> bool:
        """Run one job's step; a failure is recorded and the run continues."""
        if self.dry_run:
            return True
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - one job must never abort the run
            self.fail(task, job, exc)
            return False
        return True


def _last_sign_of_life(job: JobModel) -> datetime:
    return clock.parse_iso(job.heartbeat_at or job.started_at or job.status_changed_at)


def _is_stalled(job: JobModel, run: _Run) -> bool:
    return _last_sign_of_life(job) < run.now - timedelta(minutes=run.policy.stalled_running_minutes)


def recover_stalled(run: _Run) -> None:
    """Running jobs without a heartbeat for `stalled_running_minutes` become Error."""
    threshold = timedelta(minutes=run.policy.stalled_running_minutes)
    budget = run.policy.cleanup.max_jobs_per_run
    acted, last_key = 0, None
    while True:
        found, last_key = queries.jobs_by_status(
            lifecycle.RUNNING, changed_before=run.cutoff(threshold), limit=budget, last_key=last_key
        )
        for job in found:
            if acted >= budget:
                run.report.more_due.append("stalled")
                return
            if not _is_stalled(job, run):
                run.report.skipped.append(JobSkip(task="stalled", job_id=job.job_id, reason="heartbeat is recent"))
                continue
            acted += 1
            if run.attempt("stalled", job, functools.partial(_declare_stalled, job, threshold)):
                run.report.stalled.append(job.job_id)
                run.handled.add(job.job_id)
        if last_key is None:
            break
    try:
        report_lone_mates(run)
    except Exception as exc:  # noqa: BLE001 - a failed report must not undo the stalled recovery
        run.fail("stalled", None, exc)


#: A lone mate is reported after this many times `stalled_running_minutes` (design §12).
LONE_MATE_FACTOR = 3
#: Jobs that crossed that age within this window are looked at (the stalled task runs
#: every 5 minutes, so each gets six chances); older ones were reported or had their mate.
LONE_MATE_WINDOW = timedelta(minutes=30)


def report_lone_mates(run: _Run) -> None:
    """Submitted read-pair jobs that have one mate and waited too long for the other:
    reported once (report, job event, log); the job keeps waiting until its retention.
    One Query over the jobs submitted in a 30-minute slice: the cost follows the traffic
    of that slice, never the size of the table."""
    wait = timedelta(minutes=run.policy.stalled_running_minutes * LONE_MATE_FACTOR)
    budget = run.policy.cleanup.max_jobs_per_run
    bucket = get_settings().upload_bucket
    newest = run.now - wait - timedelta(milliseconds=1)
    found, _ = queries.jobs_waiting_for_mate(
        changed_after=clock.to_iso(newest - LONE_MATE_WINDOW), changed_before=clock.to_iso(newest), limit=budget
    )
    for job in found:
        if not job.mate_key or job.mate_reported_at:
            continue
        arrived = [k for k in (job.input_key, job.mate_key) if k and k in _list_keys(bucket, k)]
        if len(arrived) != 1:
            continue
        missing = job.mate_key if arrived[0] == job.input_key else job.input_key
        if not run.dry_run:
            if not lifecycle.mark_mate_reported(job.job_id):
                continue
            name = missing.rsplit("/", 1)[-1]
            lifecycle.append_event(
                job.job_id,
                f"Still waiting for the mate {name} since {job.status_changed_at}; upload it to start the job",
                "WARNING",
            )
            logger.warning("lone mate", extra={"job_id": job.job_id, "arrived": arrived[0], "missing": missing})
        run.report.lone_mates.append(
            LoneMate(job_id=job.job_id, arrived=arrived[0], missing=missing, waiting_since=job.status_changed_at)
        )


def _declare_stalled(job: JobModel, threshold: timedelta) -> None:
    minutes = threshold.total_seconds() / 60
    lifecycle.transition(
        job,
        lifecycle.ERROR,
        error=STALLED_ERROR,
        message=f"Status Running -> Error: {STALLED_ERROR} (no heartbeat for {minutes:g} minutes)",
    )


def purge(run: _Run) -> None:
    """Delete jobs past their status's retention, at most max_jobs_per_run in all."""
    budget = run.policy.cleanup.max_jobs_per_run
    for status in PURGE_STATUSES:
        if budget <= 0:
            run.report.more_due.append("purge")
            return
        retention = timedelta(days=run.policy.retention_days.days(status))
        try:
            found, last_key = queries.jobs_by_status(status, changed_before=run.cutoff(retention), limit=budget)
        except ServiceError as exc:
            run.fail("purge", None, exc)
            continue
        budget -= len(found)
        todo = []
        for job in found:
            if job.job_id in run.handled:  # e.g. just declared stalled by this run
                continue
            if status == lifecycle.RUNNING and not _is_stalled(job, run):
                skip = JobSkip(task="purge", job_id=job.job_id, reason="Running and heartbeat is recent")
                run.report.skipped.append(skip)
                continue
            todo.append(job)
        for job, done in _in_parallel(todo, lambda job: run.attempt("purge", job, lambda: purge_job(job))):
            if done:
                run.report.purged.append(job.job_id)
                run.handled.add(job.job_id)
        if last_key is not None and budget <= 0 and "purge" not in run.report.more_due:
            run.report.more_due.append("purge")
            return


#: Jobs one pass works on at once: each step waits on S3 and DynamoDB, not on the CPU.
WORKERS = 8


def _in_parallel(jobs: list[JobModel], step: Callable[[JobModel], bool]) -> list[tuple[JobModel, bool]]:
    """`step` of each job on `WORKERS` threads (each in a copy of this context, so the
    invocation's log keys and the local IAM principal go with it); results in job order."""
    if len(jobs) <= 1:
        return [(job, step(job)) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(jobs))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, step, job) for job in jobs]
        return [(job, future.result()) for job, future in zip(jobs, futures, strict=True)]


def archive(run: _Run) -> None:
    """Move Completed jobs older than archiving.min_age_days to cold storage."""
    settings = run.policy.archiving
    budget = run.policy.cleanup.max_jobs_per_run
    cutoff = run.cutoff(timedelta(days=settings.min_age_days))
    found, last_key = queries.jobs_by_status(lifecycle.COMPLETED, changed_before=cutoff, limit=budget)
    todo = [job for job in found if job.job_id not in run.handled]

    def step(job: JobModel) -> bool:
        return run.attempt("archive", job, lambda: archive_job(job, run.policy, run.report))

    for job, done in _in_parallel(todo, step):
        if done:
            run.report.archived.append(job.job_id)
    if last_key is not None and len(found) >= budget:
        run.report.more_due.append("archive")


# --- per-job steps --------------------------------------------------------------


def purge_job(job: JobModel) -> None:
    """Objects, then events, then the record: each step idempotent, the record last so
    an interrupted purge is found again and finished by the next run."""
    s3layout.delete_objects_of(job)
    lifecycle.delete_events(job.job_id)
    lifecycle.delete_job_record(job)
    count("maintenance.purged")
    if job.batch_id and batches.remove_if_empty(job.batch_id):  # the batch goes with its last job
        count("maintenance.batches_removed")
        logger.info("batch removed with its last job", extra={"batch_id": job.batch_id})


@storage_call("s3.list")
def _list_keys(bucket: str, prefix: str) -> list[str]:
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def _result_sources(job: JobModel) -> list[str]:
    """Result files as they are in the bucket (the record's list may miss late writes)."""
    return sorted(_list_keys(get_settings().results_bucket, s3layout.results_prefix(job.user_id, job.job_id)))


def _input_source(job: JobModel) -> str | None:
    return _present(s3layout.owned_input(job))


def _present(key: str | None) -> str | None:
    if key is None:
        return None
    listed = _list_keys(get_settings().upload_bucket, key)
    return key if key in listed else None


def archive_key(job: JobModel, source_key: str, compress: bool) -> str:
    """`archive/{user_id}/{job_id}/{name}.gz` (no `.gz` when the policy does not compress)."""
    name = source_key.rsplit("/", 1)[-1]
    return s3layout.archive_prefix(job.user_id, job.job_id) + name + (".gz" if compress else "")


@storage_call("s3.archive_copy")
def copy_to_archive(bucket: str, key: str, dest_key: str, storage_class: str, compress: bool) -> None:
    """Stream one object into the archive bucket, gzip-compressed through a spooled
    temporary file so a 500 MB input never has to fit in memory."""
    s3 = aws.client("s3")
    source = s3.get_object(Bucket=bucket, Key=key)
    content_type = source.get("ContentType") or "application/octet-stream"
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        if compress:
            with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as packed:
                shutil.copyfileobj(source["Body"], packed, _COPY_CHUNK)
        else:
            shutil.copyfileobj(source["Body"], spool, _COPY_CHUNK)
        spool.seek(0)
        extra = {
            "StorageClass": storage_class,
            "ContentType": "application/gzip" if compress else content_type,
            "Metadata": {"original-key": key, "original-content-type": content_type},
        }
        try:
            s3.upload_fileobj(spool, get_settings().archive_bucket, dest_key, ExtraArgs=extra)
        except Boto3Error as exc:  # S3UploadFailedError wraps the ClientError
            raise StorageUnavailable(f"Storage is temporarily unavailable (archiving {key}); retry later") from exc


@storage_call("s3.delete_originals")
def _delete_keys(bucket: str, keys: list[str]) -> None:
    if keys:
        aws.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})


def archive_job(job: JobModel, current: policy.Policy, report: MaintenanceReport) -> None:
    """Copy (compressed) → transition to Archived → delete the originals."""
    settings, rules = get_settings(), current.archiving
    results = _result_sources(job)
    if not results and job.source == imports.LEGACY_SOURCE:
        # Imported without its result file (docs/operations.md): nothing to move, and
        # failing here every run would keep the oldest jobs in front of the queue.
        lifecycle.transition(
            job,
            lifecycle.ARCHIVED,
            archive_keys=[],
            message="Status Completed -> Archived: imported without result files, nothing to move",
        )
        return
    if not results:
        raise NotFound("No result files found to archive; the job stays Completed")
    archived = []
    for key in results:
        dest = archive_key(job, key, rules.compress_results)
        copy_to_archive(settings.results_bucket, key, dest, rules.storage_class, rules.compress_results)
        archived.append(dest)
    inputs = [k for k in (_input_source(job), _present(s3layout.owned_mate(job))) if k]
    note = ""
    for input_key in inputs:
        dest = archive_key(job, input_key, rules.compress_results)
        copy_to_archive(settings.upload_bucket, input_key, dest, rules.storage_class, rules.compress_results)
        note += f" and the input ({dest})"
    lifecycle.transition(
        job,
        lifecycle.ARCHIVED,
        archive_keys=archived,
        message=f"Status Completed -> Archived: {len(archived)} result file(s){note} moved to cold storage",
    )
    count("maintenance.archived")
    try:
        _delete_keys(settings.results_bucket, results)
        _delete_keys(settings.upload_bucket, inputs)
    except ServiceError as exc:  # archived all the same; the purge removes the leftovers
        report.failed.append(
            JobFailure(
                task="archive",
                job_id=job.job_id,
                status=lifecycle.ARCHIVED,
                error=f"Archived, but the originals were not removed yet ({exc.message}); its purge removes them",
            )
        )


# --- entry points ---------------------------------------------------------------

_TASKS: dict[Task, Callable[[_Run], None]] = {"stalled": recover_stalled, "purge": purge, "archive": archive}


def _enabled(task: Task, current: policy.Policy) -> bool:
    if task == "archive":
        return current.archiving.enabled
    if task == "purge":
        return current.cleanup.enabled
    return True  # recovering stalled jobs is correctness, not housekeeping


def run(
    tasks: list[Task] | None = None, *, dry_run: bool = False, current: policy.Policy | None = None
) -> MaintenanceReport:
    """Run the given tasks (default all) now; the scheduled rules and the admin route call this."""
    current = current or policy.get_policy()
    ordered = MaintenanceRequest(tasks=tasks).ordered_tasks()
    started = clock.now()
    report = MaintenanceReport(dry_run=dry_run, started_at=clock.to_iso(started), finished_at="", tasks=[])
    state = _Run(policy=current, dry_run=dry_run, now=started, report=report)
    for task in ordered:
        if not _enabled(task, current):
            report.disabled.append(task)
            continue
        report.tasks.append(task)
        try:
            _TASKS[task](state)
        except Exception as exc:  # noqa: BLE001 - a failed query ends this task, not the run
            state.fail(task, None, exc)
    report.finished_at = clock.now_iso()
    if not dry_run:
        count("maintenance.stalled", len(report.stalled))
        count("maintenance.failed", len(report.failed))
    logger.info(
        "maintenance run",
        extra={
            "tasks": report.tasks,
            "dry_run": dry_run,
            "stalled": len(report.stalled),
            "purged": len(report.purged),
            "archived": len(report.archived),
            "failed": len(report.failed),
            "more_due": report.more_due,
        },
    )
    return report


#: Time kept free at the end of an invocation: the pass in progress and the hand-over fit in it.
HANDOVER_RESERVE_MS = 120_000
#: The function a scheduled task hands its remaining work to (it may invoke itself again).
CONTINUATION_FUNCTION = "maintenance_run"
#: Hand-overs after which a task stops even with work left (a runaway guard: 50 x 15 min).
MAX_GENERATIONS = 50


def _remaining_ms(context: Any) -> float:
    """Milliseconds this invocation may still run (Lambda's context; unbounded without one)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) if callable(remaining) else float("inf")


def _merge(into: MaintenanceReport, more: MaintenanceReport) -> None:
    for name in ("stalled", "purged", "archived", "failed", "skipped", "lone_mates"):
        getattr(into, name).extend(getattr(more, name))
    into.more_due = more.more_due
    into.finished_at = more.finished_at


def continue_until_done(task: Task, context: Any = None, generation: int = 0) -> dict[str, Any]:
    """Run `task` pass after pass (each at most `cleanup.max_jobs_per_run` jobs) until nothing
    is due (design §23); when the invocation's time runs short, hand the rest to a new
    invocation of `maintenance_run`, so a day with 10,000 due jobs is cleared the same day.
    A pass with failures is followed by another (the failed jobs are still due); a pass that
    changes nothing (every due job failed) ends the chain: the next tick retries."""
    total: MaintenanceReport | None = None
    passes = 0
    handed_over = False
    while True:
        report = run([task])
        passes += 1
        if total is None:
            total = report
        else:
            _merge(total, report)
        progressed = len(report.stalled) + len(report.purged) + len(report.archived)
        if not progressed or (task not in report.more_due and not report.failed):
            break  # nothing left, or nothing moved: jobs that failed are retried by the next tick
        if _remaining_ms(context) < HANDOVER_RESERVE_MS:
            if generation + 1 < MAX_GENERATIONS:
                invoke_async(
                    CONTINUATION_FUNCTION,
                    {"continue": task, "generation": generation + 1},
                    target=getattr(context, "function_name", None) if generation else None,
                )
                handed_over = True
            else:
                logger.error("maintenance chain stopped after its last hand-over", extra={"task": task})
            break
    assert total is not None
    logger.info(
        "maintenance task done",
        extra={"task": task, "passes": passes, "handed_over": handed_over, "generation": generation},
    )
    return {**total.model_dump(), "passes": passes, "handed_over": handed_over, "generation": generation}


def scheduled(task: Task, context: Any = None) -> dict[str, Any]:
    """Body of a scheduled rule: the task until nothing is due, metrics flushed, the report returned."""
    observability.reset_context()
    try:
        return continue_until_done(task, context)
    finally:
        observability.flush()


def continuation(event: dict[str, Any], context: Any = None) -> dict[str, Any] | None:
    """A hand-over event (`{"continue": task, "generation": n}`), or None for another event."""
    task = event.get("continue") if isinstance(event, dict) else None
    if task not in TASK_ORDER:
        return None
    generation = event.get("generation")
    return continue_until_done(task, context, generation if isinstance(generation, int) else MAX_GENERATIONS)


def cleanup(days: int, *, current: policy.Policy | None = None, seconds: float = CLEANUP_SECONDS) -> CleanupReport:
    """Delete terminal jobs that entered their status more than `days` ago, like a purge.

    Bounded so that it fits one API request (API Gateway ends it at 29 s): at most
    `max_jobs_per_run` jobs and `seconds` of work; `more_due` asks for another call.
    """
    current = current or policy.get_policy()
    deadline = time.monotonic() + seconds
    budget = current.cleanup.max_jobs_per_run
    cutoff = clock.iso_before(timedelta(days=days))
    deleted: list[str] = []
    failed: list[JobFailure] = []
    more_due = False
    for status in CLEANUP_STATUSES:
        if budget <= 0 or time.monotonic() >= deadline:
            more_due = True
            break
        found, last_key = queries.jobs_by_status(status, changed_before=cutoff, limit=budget)
        budget -= len(found)
        more_due = more_due or (last_key is not None and budget <= 0)
        for job in found:
            if time.monotonic() >= deadline:
                more_due = True
                break
            try:
                purge_job(job)
            except ServiceError as exc:
                logger.warning("cleanup of a job failed", extra={"job_id": job.job_id, "error": exc.message})
                failed.append(JobFailure(task="cleanup", job_id=job.job_id, status=job.status, error=exc.message))
            else:
                deleted.append(job.job_id)
    logger.info("cleanup", extra={"days": days, "deleted": len(deleted), "failed": len(failed)})
    return CleanupReport(deleted=deleted, count=len(deleted), failed=failed, more_due=more_due)


# --- HTTP handlers (admin only) -------------------------------------------------


def handle_cleanup(request: Request) -> Response:
    """`DELETE /jobs/cleanup?days=N`."""
    web.require_admin()
    query = web.parse_query(request, CleanupQuery)
    return web.json_response(cleanup(query.days).model_dump())

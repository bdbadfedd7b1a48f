"""Handlers of the jobs routes (design §8): validate, call the lifecycle, shape the answer.

`app.py` routes are one-liners into this module. Authorisation is uniform: a job that
is not the caller's is 404 (`queries.get_job_for`), admins see every job. Status changes
go through `chalicelib.jobs.lifecycle` only.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Mapping
from typing import Any

from chalice.app import Request, Response

from chalicelib.core import clock, web
from chalicelib.core.errors import Conflict, InvalidTransition, NotFound
from chalicelib.core.observability import bind
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import JobEventModel, JobModel, plain
from chalicelib.jobs import imports, lifecycle, queries, quotas, s3layout
from chalicelib.jobs.schemas import (
    DEFAULT_FILENAME,
    CreateJobRequest,
    JobListQuery,
    JobParams,
    LogsQuery,
    StatsQuery,
)

PREDICTIONS = s3layout.PREDICTIONS_JSON
RESULT_FILES = s3layout.RESULT_FILES
CANCEL_ATTEMPTS = 3


# --- representation ---------------------------------------------------------


def _duration(job: JobModel) -> float | None:
    if not job.started_at:
        return None
    if job.completed_at:
        end = clock.parse_iso(job.completed_at)
    elif job.status == lifecycle.RUNNING:
        end = clock.now()
    else:
        return None
    return round(max(0.0, (end - clock.parse_iso(job.started_at)).total_seconds()), 3)


def job_out(job: JobModel) -> dict[str, Any]:
    """The job as design §8 shows it; internal fields (user_status, ttl, keys) stay inside."""
    return {
        "job_id": job.job_id,
        "user_id": job.user_id,
        "job_name": job.job_name,
        "status": job.status,
        "progress": float(job.progress or 0),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "completed_at": job.completed_at,
        "updated_at": job.updated_at,
        "duration_seconds": _duration(job),
        "error": job.error,
        "params": plain(job.params) or {},
        "input": {
            "filename": job.input_filename,
            "key": job.input_key,
            "size": int(job.input_size) if job.input_size is not None else None,
            "mate": (
                {
                    "filename": job.mate_filename,
                    "key": job.mate_key,
                    "size": int(job.mate_size) if job.mate_size is not None else None,
                }
                if job.mate_key
                else None
            ),
        },
        "summary": plain(job.summary),
        "batch_id": job.batch_id,
    }


def event_out(event: JobEventModel) -> dict[str, Any]:
    return {
        "timestamp": event.timestamp,
        "level": event.level,
        "message": event.message,
        "data": plain(event.data),
    }


def _job_for_caller(job_id: str) -> JobModel:
    job_id = web.path_uuid(job_id)
    bind(job_id=job_id)
    current = web.caller()
    return queries.get_job_for(job_id, current.user_id, current.is_admin)


# --- routes -----------------------------------------------------------------


def submission(
    user_id: str,
    job_name: str,
    params: dict[str, Any],
    filename: str,
    *,
    mate_filename: str | None = None,
    batch_id: str | None = None,
    batch_index: int | None = None,
) -> tuple[JobModel, dict[str, Any]]:
    """A new job record (not yet written) and the presigned POST for exactly its input
    key: how every API job is opened, alone (`open_job`) or as a sample of a batch.

    With `mate_filename` (paired reads, names already validated) the job has a second
    input and the answer a second presigned POST, `mate_upload`; the prediction starts
    when both objects have arrived, whichever comes first."""
    job_id = lifecycle.new_job_id()
    key = s3layout.upload_key(user_id, job_id, filename)
    max_bytes = s3layout.max_upload_bytes()
    upload = s3layout.presigned_upload(key, max_bytes)  # before the record: no job without a way in
    mate_key = s3layout.upload_key(user_id, job_id, mate_filename) if mate_filename else None
    mate_upload = s3layout.presigned_upload(mate_key, max_bytes) if mate_key else None
    job = lifecycle.new_job(
        user_id=user_id,
        job_name=job_name,
        params=params,
        job_id=job_id,
        model_name=params["model_name"],
        input_key=key,
        input_filename=filename,
        mate_key=mate_key,
        mate_filename=mate_filename,
        batch_id=batch_id,
        batch_index=batch_index,
    )
    opened: dict[str, Any] = {"job": job_out(job), "upload": {**upload, "max_bytes": max_bytes}}
    if mate_upload is not None:
        opened["mate_upload"] = {**mate_upload, "max_bytes": max_bytes}
    return job, opened


def open_job(
    user_id: str, job_name: str, params: dict[str, Any], filename: str, *, mate_filename: str | None = None
) -> dict[str, Any]:
    """Create one Submitted job; its answer carries the presigned POST(s)."""
    job, opened = submission(user_id, job_name, params, filename, mate_filename=mate_filename)
    bind(job_id=job.job_id)
    lifecycle.insert_job(job)
    return opened


def create_job(request: Request) -> Response:
    """POST /jobs: one job for the caller."""
    current = web.caller()
    body: CreateJobRequest = web.parse_body(request, CreateJobRequest)
    params = (body.params or JobParams()).to_store()
    quotas.admit(current.user_id, 1, role=current.role)
    opened = open_job(
        current.user_id, body.job_name, params, body.filename or DEFAULT_FILENAME, mate_filename=body.mate_filename
    )
    return web.json_response(opened, 201)


def list_jobs(request: Request) -> Response:
    """The caller's own jobs, newest first; with `scope=all`, every user's jobs of one
    status (administrators only)."""
    current = web.caller()
    query: JobListQuery = web.parse_query(request, JobListQuery)
    if query.batch_id is not None:
        owner = None if current.is_admin else current.user_id
        page = queries.list_batch_jobs(query.batch_id, owner, query.limit, query.next_token)
    elif query.scope == "all" and query.status is not None:
        web.require_admin()
        page = queries.list_jobs_in_status(query.status, query.limit, query.next_token)
    else:
        page = queries.list_user_jobs(current.user_id, query.status, query.limit, query.next_token)
    return web.json_response({"jobs": [job_out(j) for j in page.items], "next_token": page.next_token})


def get_job(job_id: str) -> Response:
    return web.json_response(job_out(_job_for_caller(job_id)))


def cancel(job: JobModel, by: str) -> JobModel:
    """Cancel a Submitted or Running job; a running prediction stops at its next batch.

    A lost race with the prediction (Submitted -> Running) is retried on the fresh
    record; a job that is (or meanwhile became) terminal is Conflict.
    """
    for attempt in range(CANCEL_ATTEMPTS):
        if job.status in lifecycle.TERMINAL:
            raise Conflict(f"Job is already {job.status}; only Submitted or Running jobs can be cancelled")
        try:
            return lifecycle.transition(job, lifecycle.CANCELLED, message=f"Cancelled by {by}")
        except InvalidTransition:
            if attempt + 1 == CANCEL_ATTEMPTS:
                raise
            job = queries.get_job(job.job_id)
    raise AssertionError("unreachable")


def remove(job: JobModel) -> None:
    """Delete a job's objects, events and record, in that order, so a retry can finish."""
    if job.status == lifecycle.RUNNING:
        raise Conflict("Job is Running; cancel it before deleting it")
    s3layout.delete_objects_of(job)
    lifecycle.delete_job(job)


def cancel_job(job_id: str) -> Response:
    job = _job_for_caller(job_id)
    current = web.caller()
    return web.json_response(job_out(cancel(job, current.username or current.user_id)), 202)


def delete_job(job_id: str) -> Response:
    remove(_job_for_caller(job_id))
    return web.no_content()


def job_logs(job_id: str, request: Request) -> Response:
    job = _job_for_caller(job_id)
    query: LogsQuery = web.parse_query(request, LogsQuery)
    page = queries.list_events(job.job_id, query.limit, query.next_token)
    return web.json_response({"events": [event_out(e) for e in page.items], "next_token": page.next_token})


def job_results(job_id: str) -> Response:
    """predictions.json plus presigned links; Archived jobs are read from the archive."""
    job = _job_for_caller(job_id)
    if job.source == imports.LEGACY_SOURCE and job.status in (lifecycle.COMPLETED, lifecycle.ARCHIVED):
        return _legacy_results(job)
    files = _finished_objects(job)
    predictions = _read_predictions(files)
    urls = {name: s3layout.presigned_download(bucket, key) for name, (bucket, key) in sorted(files.items())}
    return web.json_response({**predictions, "download_urls": urls})


def _finished_objects(job: JobModel) -> dict[str, tuple[str, str]]:
    if job.status == lifecycle.COMPLETED:
        return _result_objects(job)
    if job.status == lifecycle.ARCHIVED:
        return _archived_objects(job)
    raise Conflict(f"Job is {job.status}; results exist once it is Completed (or Archived)")


def read_predictions(job: JobModel) -> dict[str, Any]:
    """predictions.json of a Completed or Archived job (one S3 GetObject)."""
    return _read_predictions(_finished_objects(job))


class ResultsNotMigrated(NotFound):
    code = "results_not_migrated"


def _legacy_results(job: JobModel) -> Response:
    """A job imported from the earlier service: its original result file, as it was
    (the earlier service's format is not ours, so no genes are read out of it)."""
    if job.status == lifecycle.ARCHIVED and job.archive_keys:
        files = _archived_objects(job)  # moved to the archive by maintenance
    elif job.result_keys:
        files = _result_objects(job)
    else:
        raise ResultsNotMigrated(
            "This job was imported from the earlier service without its result file: its results were not migrated"
        )
    urls = {name: s3layout.presigned_download(bucket, key) for name, (bucket, key) in sorted(files.items())}
    return web.json_response(
        {
            "job_id": job.job_id,
            "database": {"name": "legacy", "version": None},
            "genes": [],
            "resistance": {},
            "stats": {},
            "legacy": True,
            "message": "Imported from the earlier service: the original result file is in download_urls; "
            "genes and resistance were not re-derived from it",
            "download_urls": urls,
        }
    )


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _result_objects(job: JobModel) -> dict[str, tuple[str, str]]:
    bucket = get_settings().results_bucket
    keys = [str(k) for k in job.result_keys or []]
    keys = keys or [s3layout.result_key(job.user_id, job.job_id, n) for n in RESULT_FILES]
    return {_name(k): (bucket, k) for k in keys}


def _archived_objects(job: JobModel) -> dict[str, tuple[str, str]]:
    """Archived copies (`<name>.gz`, or plain when the policy did not compress)."""
    bucket = get_settings().archive_bucket
    prefix = s3layout.archive_prefix(job.user_id, job.job_id)
    keys = [str(k) if "/" in str(k) else prefix + str(k) for k in job.archive_keys or []]
    keys = keys or [prefix + n + ".gz" for n in RESULT_FILES]
    return {_name(k): (bucket, k) for k in keys}


def _read_predictions(files: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    for name in (PREDICTIONS, PREDICTIONS + ".gz"):
        if name in files:
            raw = s3layout.get_object_bytes(*files[name])
            if raw is None:
                break
            return _decode_predictions(raw, gzipped=name.endswith(".gz"))
    raise NotFound("The result files of this job are missing")


def _decode_predictions(raw: bytes, *, gzipped: bool) -> dict[str, Any]:
    try:
        data = json.loads(gzip.decompress(raw) if gzipped else raw)
    except (OSError, EOFError, zlib.error, ValueError):
        raise NotFound("The result files of this job are unreadable") from None
    if not isinstance(data, dict):
        raise NotFound("The result files of this job are unreadable")
    data.pop("download_urls", None)
    return data


def stats(request: Request) -> Response:
    """Counters of the caller's jobs, or of every job (`scope=all`, admins): one GetItem."""
    query: StatsQuery = web.parse_query(request, StatsQuery)
    if query.scope == "all":
        web.require_admin()
        scope = queries.GLOBAL_SCOPE
    else:
        scope = queries.user_scope(web.caller().user_id)
    return web.json_response({"scope": query.scope, **queries.get_stats(scope)})

"""Running a job (design §4, §6): claim it, predict, store the result files, end it.

Running needs the conditional claim Submitted → Running, so of two deliveries of an event
exactly one predicts. Once a job is Running it always ends: Completed with results,
Cancelled (stopped at the next batch, no results kept) or Error with a message for the
user — never a trace.
"""

from __future__ import annotations

import os
from typing import Any

from chalicelib.core import aws, observability
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import InvalidTransition, ServiceError
from chalicelib.core.observability import count, logger, timed
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import JobModel, plain
from chalicelib.jobs import lifecycle, quotas, s3layout
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import acquired, objects, render
from chalicelib.prediction.fasta import InputError
from chalicelib.prediction.objects import ObjectInfo, ObjectRef, filename_of
from chalicelib.prediction.outcomes import CANCELLED, COMPLETED, DUPLICATE, FAILED, Outcome, job_event
from chalicelib.prediction.reads import predictor as reads_predictor
from chalicelib.prediction.resfinder_db import DatabaseError, load_db
from chalicelib.prediction.results import BatchProgress, Cancelled, Prediction

MAX_UPLOAD_ENV = s3layout.MAX_UPLOAD_ENV
#: A progress event is logged at the first batch, at every step of this many percent
#: and at the last batch: a log of at most ~12 lines whatever the number of batches.
PROGRESS_EVENT_STEP = 10.0
CONTENT_TYPES = {
    ".json": "application/json",
    ".tsv": "text/tab-separated-values; charset=utf-8",
}


def run_job(
    job: JobModel,
    ref: ObjectRef,
    info: ObjectInfo,
    request_id: str,
    *,
    problem: str | None = None,
    mate: tuple[ObjectRef, ObjectInfo] | None = None,
) -> Outcome:
    """Claim the job and predict; `problem` (found before claiming) ends it in Error at once.

    `ref`/`info` name the job's input (for a pair, the first mate) and `mate` the second
    mate; the outcome is reported under the key of the event being handled."""
    observability.bind(job_id=job.job_id, user_id=job.user_id)
    event_key = ref.key
    inputs = [(ref, info)] if mate is None else [(ObjectRef(ref.bucket, job.input_key or ref.key), info), mate]
    sizes: dict[str, Any] = {"input_size": inputs[0][1].size}
    if mate is not None:
        sizes["mate_size"] = mate[1].size
    try:
        job = lifecycle.transition(job, lifecycle.RUNNING, **sizes)
    except InvalidTransition:
        logger.info("job not claimed: already taken or no longer Submitted", extra={"key": event_key})
        return Outcome(event_key, DUPLICATE, job.job_id, "job is not Submitted")
    try:
        quotas.add_bytes(job.user_id, sum(i.size for _, i in inputs))  # today's input bytes (design §23)
    except ServiceError as exc:
        logger.warning("input bytes not counted", extra={"cause": exc.message})
    ref = ObjectRef(ref.bucket, event_key)
    try:
        params, param_problem = _job_params(job)
        size_problem = next((p for p in (_size_problem(r, i) for r, i in inputs) if p), None)
        problem = problem or size_problem or param_problem
        if problem is not None or params is None:
            return fail(job, ref, problem or "invalid parameters")
        return _predict_and_store(job, ref, inputs, params)
    except Cancelled as exc:
        done = exc.progress
        what = f"{done.reads} reads" if done.reads is not None else f"{done.segments_done} segments"
        logger.info("prediction cancelled", extra={"segments_done": done.segments_done})
        job_event(job.job_id, f"Prediction stopped after {what}: job cancelled")
        return Outcome(ref.key, CANCELLED, job.job_id)
    except InputError as exc:
        return fail(job, ref, exc.message)
    except DatabaseError as exc:
        logger.error("prediction database unavailable", extra={"error": str(exc)})
        return fail(job, ref, f"the prediction database is unavailable on the server (reference {request_id})")
    except ServiceError as exc:  # StorageUnavailable and friends carry a user-safe message
        return fail(job, ref, exc.message)
    except Exception:  # noqa: BLE001 - anything else: trace to the log, a reference to the user
        logger.exception("unexpected failure while predicting")
        return fail(job, ref, f"internal error while predicting (reference {request_id})")


def _size_problem(ref: ObjectRef, info: ObjectInfo) -> str | None:
    limit = s3layout.max_upload_bytes()
    if info.size > limit:
        return f"{filename_of(ref)}: file too large ({info.size} bytes; the limit is {limit} bytes)"
    return None


def _job_params(job: JobModel) -> tuple[PredictParams | None, str | None]:
    """The job's stored params, validated again: the predictor must never see bad ones."""
    try:
        return PredictParams.from_dict(plain(job.params) or {}), None
    except (TypeError, ValueError) as exc:
        return None, f"invalid parameters: {exc}"


def _predict_and_store(
    job: JobModel, ref: ObjectRef, inputs: list[tuple[ObjectRef, ObjectInfo]], params: PredictParams
) -> Outcome:
    db = load_db()
    names = [filename_of(r) for r, _ in inputs]
    filename = " + ".join(names)
    total = sum(i.size for _, i in inputs)
    job_event(
        job.job_id,
        f"Prediction started: {filename} ({total} bytes) against {db.name} {db.version}",
        data={"params": params.to_dict(), "database": {"name": db.name, "version": db.version}},
    )
    tracker = ProgressTracker(job.job_id)
    with timed("prediction.ms"):
        bodies = [objects.open_body(r) for r, _ in inputs]
        try:
            if s3layout.is_fastq_name(names[0]):
                pred = reads_predictor.predict_streams(
                    bodies,
                    names,
                    total,
                    max_bytes=s3layout.max_upload_bytes(),
                    params=params,
                    on_batch=tracker,
                    db=db,
                )
            else:
                pred = acquired.predict_stream(
                    bodies[0],
                    name=names[0],
                    size=total,
                    max_bytes=s3layout.max_upload_bytes(),
                    params=params,
                    on_batch=tracker,
                    db=db,
                )
        finally:
            for body in bodies:
                body.close()
    count("prediction.bases", pred.bases)
    keys = store_results(job, pred, filename)
    try:
        lifecycle.transition(
            job,
            lifecycle.COMPLETED,
            message=_completion_message(pred),
            result_keys=keys,
            summary=render.summary(pred),
        )
    except InvalidTransition:
        # Cancelled after the last batch: a cancelled job keeps no results.
        logger.info("job cancelled while storing results; removing them")
        _delete_results(keys)
        return Outcome(ref.key, CANCELLED, job.job_id)
    return Outcome(ref.key, COMPLETED, job.job_id)


def _completion_message(pred: Prediction) -> str:
    found = f"{len(pred.genes)} gene(s)"
    source = f"{pred.reads} reads" if pred.reads is not None else f"{pred.contigs} contig(s)"
    if pred.point is not None:
        found += f", {len(pred.point.mutations)} point mutation(s) ({pred.species})"
    resistant = ", ".join(pred.resistant[:20]) + (" ..." if len(pred.resistant) > 20 else "")
    return f"Completed: {found} in {source}, {pred.seconds:.1f} s; " + (
        f"resistant to {resistant}" if resistant else "no resistance predicted"
    )


class ProgressTracker:
    """`on_batch` of a job: writes progress (which doubles as the cancellation check and the
    heartbeat), logs a bounded number of progress events and counts batches."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.next_event_at = 0.0

    def __call__(self, progress: BatchProgress) -> bool:
        count("prediction.batches")
        pct = round(100.0 * (progress.fraction or 0.0), 1)
        if not progress.finished:
            pct = min(pct, 99.0)
        if not lifecycle.update_progress(self.job_id, pct):
            return False  # no longer Running: cancelled; the predictor stops here
        if progress.batch == 1 or progress.finished or pct >= self.next_event_at:
            self.next_event_at = (pct // PROGRESS_EVENT_STEP + 1) * PROGRESS_EVENT_STEP
            if progress.reads is not None:
                job_event(
                    self.job_id,
                    f"Progress {pct:.0f}%: batch {progress.batch}, {progress.reads} reads, "
                    f"{progress.bytes_read or 0} bytes read, {progress.hits} reads on resistance genes",
                    data={
                        "batch": progress.batch,
                        "progress": str(pct),
                        "reads": progress.reads,
                        "bytes_read": progress.bytes_read or 0,
                    },
                )
                return True
            job_event(
                self.job_id,
                f"Progress {pct:.0f}%: batch {progress.batch}, {progress.segments_done} segments, "
                f"{progress.contigs_seen} contigs, {progress.hits} candidate hits",
                data={"batch": progress.batch, "progress": str(pct), "segments_done": progress.segments_done},
            )
        return True


# --------------------------------------------------------------------------- failure


def fail(job: JobModel, ref: ObjectRef, message: str) -> Outcome:
    """End a Running job in Error; if even that is refused (cancelled meanwhile) or the
    store is down, log it — stalled-job recovery is the last resort."""
    try:
        lifecycle.transition(job, lifecycle.ERROR, error=message)
    except InvalidTransition:
        logger.info("job could not be marked Error: no longer Running", extra={"error": message})
        return Outcome(ref.key, CANCELLED, job.job_id, message)
    except ServiceError as exc:
        logger.error("job could not be marked Error", extra={"error": message, "cause": exc.message})
    count("prediction.failed")
    return Outcome(ref.key, FAILED, job.job_id, message)


# --------------------------------------------------------------------------- results


def store_results(job: JobModel, pred: Prediction, filename: str) -> list[str]:
    """Write the result files; returns their keys in the results bucket."""
    bucket = get_settings().results_bucket
    keys = []
    for name, text in render.render_all(pred, job.job_id, filename).items():
        key = s3layout.result_key(job.user_id, job.job_id, name)
        content_type = CONTENT_TYPES.get(os.path.splitext(name)[1], "text/plain; charset=utf-8")
        s3layout.put_object(bucket, key, text.encode("utf-8"), content_type)
        keys.append(key)
    return keys


@storage_call("s3.delete_results")
def _delete_results(keys: list[str]) -> None:
    bucket = get_settings().results_bucket
    aws.client("s3").delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})

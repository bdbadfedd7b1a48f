"""The prediction function: S3 `ObjectCreated` events on the upload bucket (design §4, §6, §7).

Two kinds of object start work:

* `uploads/{user_id}/{job_id}/{filename}` — the input of a job made by `POST /jobs`. It is
  accepted only when the job exists, belongs to `user_id` and recorded exactly this key.
  For a read pair, whichever mate arrives second starts the job.
* `inbox/{username}/{filename}` — a bucket drop (:mod:`.inbox`). It creates a job for that
  active user (name and params from object metadata), then runs it like an API upload.

Anything else is rejected: no job is touched, the object is tagged `amr-status=rejected`
with `amr-reason`, and the reason is logged.

S3 delivers events at least once, so both steps are idempotent: an inbox job's id derives
from the object's identity, and running (:mod:`.runner`) needs the conditional claim
Submitted → Running, so of two deliveries exactly one predicts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from chalice.app import S3Event

from chalicelib.core import observability
from chalicelib.core.errors import NotFound, StorageUnavailable
from chalicelib.core.observability import count, logger
from chalicelib.core.settings import get_settings
from chalicelib.jobs import lifecycle, queries, s3layout
from chalicelib.prediction import inbox, objects
from chalicelib.prediction.objects import ObjectRef, filename_of
from chalicelib.prediction.outcomes import FAILED, IGNORED, RETRY, WAITING, Outcome, job_event, reject
from chalicelib.prediction.runner import run_job


class RetryLater(Exception):
    """Raised at the end of an invocation when storage failed before anything was decided.

    Lambda retries asynchronous invocations that raise; the retry is harmless because
    every step is idempotent, and without it a dropped file would be lost.
    """


class LenientS3Event(S3Event):
    """Chalice's S3Event reads `Records[0]` on construction and so crashes on malformed
    events (e.g. S3's `s3:TestEvent`) before our code runs; this one leaves every check
    to `handle_upload_event`, which logs and skips what it cannot use."""

    def _extract_attributes(self, event_dict: Any) -> None:
        try:
            super()._extract_attributes(event_dict)
        except (KeyError, IndexError, TypeError, AttributeError):
            self.bucket, self.key = "", ""


# --------------------------------------------------------------------------- entry point


def handle_upload_event(event: Any, context: Any = None) -> list[Outcome]:
    """Lambda entry point: process every S3 record of `event`; never crash on bad input.

    Returns one outcome per usable record. Raises RetryLater only when storage failed
    before a job was claimed, so Lambda's retry can finish the work.
    """
    observability.reset_context()
    request_id = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    observability.bind(request_id=request_id)
    try:
        refs = parse_records(event)
        count("uploads.records", len(refs))
        outcomes = [_process_safely(ref, request_id) for ref in refs]
    finally:
        observability.flush()
    retry = [o for o in outcomes if o.outcome == RETRY]
    if retry:
        raise RetryLater(f"storage unavailable for {len(retry)} object(s); retry the event")
    return outcomes


def parse_records(event: Any) -> list[ObjectRef]:
    """The object-created records of an S3 notification; anything else is logged and skipped."""
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        logger.warning("ignoring event without S3 records", extra={"event_keys": _keys_of(event)})
        return []
    refs = []
    for index, record in enumerate(records):
        ref = _parse_record(record)
        if ref is None:
            logger.warning("ignoring malformed or non-S3 record", extra={"record_index": index})
        else:
            refs.append(ref)
    return refs


def _keys_of(value: Any) -> list[str]:
    return sorted(str(k) for k in value)[:10] if isinstance(value, Mapping) else [type(value).__name__]


def _parse_record(record: Any) -> ObjectRef | None:
    if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
        return None
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return None
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, Mapping) else None
    obj = s3.get("object") if isinstance(s3, Mapping) else None
    if not isinstance(bucket, Mapping) or not isinstance(obj, Mapping):
        return None
    name, raw_key = bucket.get("name"), obj.get("key")
    if not isinstance(name, str) or not isinstance(raw_key, str) or not name or not raw_key:
        return None
    return ObjectRef(
        bucket=name,
        key=s3layout.decode_event_key(raw_key),
        etag=str(obj.get("eTag") or ""),
        version_id=obj.get("versionId") if isinstance(obj.get("versionId"), str) else None,
        sequencer=obj.get("sequencer") if isinstance(obj.get("sequencer"), str) else None,
    )


def _process_safely(ref: ObjectRef, request_id: str) -> Outcome:
    """One record; a failure is this record's, never the other records'."""
    observability.reset_context()
    observability.bind(request_id=request_id)
    try:
        return process_object(ref, request_id)
    except StorageUnavailable as exc:
        logger.warning("storage unavailable before the job was claimed", extra={"key": ref.key, "error": exc.message})
        return Outcome(ref.key, RETRY, reason=exc.message)
    except Exception:  # noqa: BLE001 - the boundary: log with trace, keep the invocation alive
        logger.exception("unexpected failure handling an upload", extra={"key": ref.key})
        return Outcome(ref.key, FAILED, reason="internal error")


# --------------------------------------------------------------------------- routing


def process_object(ref: ObjectRef, request_id: str) -> Outcome:
    """Route one object to its job (API upload) or to a new job (inbox drop)."""
    if ref.bucket != get_settings().upload_bucket:
        logger.warning("ignoring object of another bucket", extra={"bucket": ref.bucket, "key": ref.key})
        return Outcome(ref.key, IGNORED, reason="not the upload bucket")
    parsed = s3layout.parse_key(ref.key)
    if isinstance(parsed, s3layout.UploadKey):
        return _process_upload(ref, parsed, request_id)
    if isinstance(parsed, s3layout.InboxKey):
        return inbox.process_drop(ref, parsed, request_id)
    return reject(
        ref, "unsupported key: expected uploads/{user_id}/{job_id}/{file} or inbox/{username}/[{folder}/]{file}"
    )


def _process_upload(ref: ObjectRef, key: s3layout.UploadKey, request_id: str) -> Outcome:
    try:
        job = queries.get_job(key.job_id)
    except NotFound:
        return reject(ref, "no such job")
    if job.user_id != key.user_id or ref.key not in (job.input_key, job.mate_key):
        return reject(ref, "key does not match the owner or upload key of the job", job_id=job.job_id)
    info = objects.head_object(ref)
    if info is None:
        logger.warning("uploaded object vanished before processing", extra={"key": ref.key})
        return Outcome(ref.key, IGNORED, job.job_id, "object no longer exists")
    if not job.mate_key:
        return run_job(job, ref, info, request_id)
    # Paired reads: whichever mate comes second starts the job; the claim runs it once.
    first = ObjectRef(ref.bucket, job.input_key or "")
    second = ObjectRef(ref.bucket, job.mate_key)
    first_info = info if ref.key == first.key else objects.head_object(first)
    second_info = info if ref.key == second.key else objects.head_object(second)
    if first_info is None or second_info is None:
        missing = filename_of(second if second_info is None else first)
        if job.status == lifecycle.SUBMITTED:
            job_event(job.job_id, f"Received {filename_of(ref)}; waiting for its mate {missing}")
        return Outcome(ref.key, WAITING, job.job_id, f"waiting for {missing}")
    return run_job(job, ref, first_info, request_id, mate=(second, second_info))

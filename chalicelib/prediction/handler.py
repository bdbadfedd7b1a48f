"""The prediction function: S3 `ObjectCreated` events on the upload bucket (SPEC §4, §6, §7).

Two kinds of object start work:

* `uploads/{user_id}/{job_id}/{filename}` — the input of a job made by `POST /jobs`. It is
  accepted only when the job exists, belongs to `user_id` and recorded exactly this key.
* `inbox/{username}/{filename}` — a bucket drop. It creates a job for that active user
  (name and params from object metadata), then runs it like an API upload.

Anything else is rejected: no job is touched, the object is tagged `amr-status=rejected`
with `amr-reason`, and the reason is logged.

S3 delivers events at least once, so both steps are idempotent. An inbox job's id is
derived from the object's identity (bucket, key, version or sequencer, ETag): a repeated
event computes the same id and `create_job` refuses the duplicate. Running needs the
conditional claim Submitted → Running, so of two deliveries exactly one predicts.

Once a job is Running it always ends: Completed with results, Cancelled (stopped at the
next batch, no results kept) or Error with a message for the user — never a trace.
"""
from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore.exceptions import BotoCoreError, ClientError
from chalice.app import S3Event

from chalicelib.core import aws, observability
from chalicelib.jobs import lifecycle, s3layout
from chalicelib.prediction import acquired, render
from chalicelib.prediction.reads import predictor as reads_predictor
from chalicelib.core.lazy import lazy_import
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import Conflict, InvalidTransition, NotFound, ServiceError, StorageUnavailable
from chalicelib.prediction.fasta import InputError
from chalicelib.core.tables import JobModel, plain
from chalicelib.core.observability import count, logger, timed
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction.results import BatchProgress, Cancelled, Prediction
from chalicelib.prediction.resfinder_db import DatabaseError, load_db
from chalicelib.core.settings import get_settings

schemas = lazy_import("chalicelib.jobs.schemas")  # pydantic models: only inbox drops need them
batches = lazy_import("chalicelib.batches.store")  # only drops into a batch folder need it

MAX_UPLOAD_ENV = s3layout.MAX_UPLOAD_ENV
#: Namespace of inbox job ids (uuid5 of the object identity): fixed forever, or a
#: redelivered event after a deployment would create a second job.
INBOX_NAMESPACE = uuid.UUID("8c4b7e0e-4a9e-5d1f-9a57-2f1b6c0d3e21")
#: A progress event is logged at the first batch, at every step of this many percent
#: and at the last batch: a log of at most ~12 lines whatever the number of batches.
PROGRESS_EVENT_STEP = 10.0
JOB_NAME_METADATA = "job-name"
TAG_STATUS, TAG_REASON, TAG_JOB = "amr-status", "amr-reason", "amr-job-id"
CONTENT_TYPES = {
    ".json": "application/json",
    ".tsv": "text/tab-separated-values; charset=utf-8",
}
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Outcomes of one record (returned for tests, tooling and logs).
COMPLETED, FAILED, CANCELLED = "completed", "error", "cancelled"
DUPLICATE, REJECTED, IGNORED, RETRY = "duplicate", "rejected", "ignored", "retry"
#: a mate of a read pair arrived; the job starts when the other one arrives
WAITING = "waiting"


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


@dataclass(frozen=True)
class ObjectRef:
    """One object named by an event record; `key` is decoded."""

    bucket: str
    key: str
    etag: str = ""
    version_id: str | None = None
    sequencer: str | None = None

    def identity(self) -> str:
        """What distinguishes this write of the object from any other write of the key."""
        version = self.version_id if self.version_id not in (None, "", "null") else self.sequencer
        return f"{self.bucket}/{self.key}/{version or ''}/{self.etag.strip(chr(34))}"


@dataclass(frozen=True)
class ObjectInfo:
    """What `head_object` tells us: the size we enforce, the user metadata and what
    identifies this write of the key (for pairing mates that arrive in two events)."""

    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""
    version_id: str | None = None
    last_modified: str = ""

    def identity(self, bucket: str, key: str) -> str:
        """This write of `bucket/key`, the same whichever event asks (a rewrite differs)."""
        version = self.version_id if self.version_id not in (None, "", "null") else self.last_modified
        return f"{bucket}/{key}/{version}/{self.etag.strip(chr(34))}"


@dataclass(frozen=True)
class Outcome:
    key: str
    outcome: str
    job_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "outcome": self.outcome, "job_id": self.job_id, "reason": self.reason}


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
        return _process_inbox(ref, parsed, request_id)
    return reject(ref, "unsupported key: expected uploads/{user_id}/{job_id}/{file} or inbox/{username}/[{folder}/]{file}")


def _process_upload(ref: ObjectRef, key: s3layout.UploadKey, request_id: str) -> Outcome:
    try:
        job = lifecycle.get_job(key.job_id)
    except NotFound:
        return reject(ref, "no such job")
    if job.user_id != key.user_id or ref.key not in (job.input_key, job.mate_key):
        return reject(ref, "key does not match the owner or upload key of the job", job_id=job.job_id)
    info = head_object(ref)
    if info is None:
        logger.warning("uploaded object vanished before processing", extra={"key": ref.key})
        return Outcome(ref.key, IGNORED, job.job_id, "object no longer exists")
    if not job.mate_key:
        return run_job(job, ref, info, request_id)
    # Paired reads: whichever mate comes second starts the job; the claim runs it once.
    first = ObjectRef(ref.bucket, job.input_key or "")
    second = ObjectRef(ref.bucket, job.mate_key)
    first_info = info if ref.key == first.key else head_object(first)
    second_info = info if ref.key == second.key else head_object(second)
    if first_info is None or second_info is None:
        missing = _filename(second if second_info is None else first)
        if job.status == lifecycle.SUBMITTED:
            _event(job.job_id, f"Received {_filename(ref)}; waiting for its mate {missing}")
        return Outcome(ref.key, WAITING, job.job_id, f"waiting for {missing}")
    return run_job(job, ref, first_info, request_id, mate=(second, second_info))


def _process_inbox(ref: ObjectRef, key: s3layout.InboxKey, request_id: str) -> Outcome:
    user, why_not = _active_user(key.username)
    if user is None:
        return reject(ref, why_not)
    info = head_object(ref)
    if info is None:
        logger.warning("dropped object vanished before processing", extra={"key": ref.key})
        return Outcome(ref.key, IGNORED, reason="object no longer exists")
    pair = s3layout.mate_pair(key.filename)
    if pair is not None:
        return _process_inbox_mate(ref, key, user, info, pair, request_id)
    job_id = inbox_job_id(ref)
    name, params, problem, ignored = metadata_settings(info.metadata, key.filename)
    if problem is None and not s3layout.is_input_name(key.filename):
        problem = (
            f"{key.filename}: unsupported file name; expected a FASTA file ending in "
            f"{', '.join(s3layout.FASTA_SUFFIXES)} or a FASTQ file ending in "
            f"{', '.join(s3layout.FASTQ_SUFFIXES)}, optionally followed by .gz"
        )
    batch_id = batches.inbox_batch_id(user.user_id, key.folder) if key.folder else None
    try:
        job = lifecycle.create_job(
            user_id=user.user_id,
            job_name=name,
            params=params,
            job_id=job_id,
            model_name=params.get("model_name", "resfinder"),
            input_key=ref.key,
            input_filename=key.filename,
            source="inbox",
            batch_id=batch_id,
        )
    except Conflict:
        # A repeated event (or a retry after a crash): the job exists; the claim decides.
        logger.info("inbox job exists already", extra={"job_id": job_id, "key": ref.key})
        job = lifecycle.get_job(job_id)
    else:
        tag(ref, "accepted", f"job {job_id}", job_id=job_id)
        if ignored:
            _event(job_id, f"Ignored object metadata that names no parameter: {', '.join(ignored)}", "WARNING")
    _join_folder_batch(user.user_id, key, params)
    return run_job(job, ref, info, request_id, problem=problem)


def _join_folder_batch(user_id: str, key: s3layout.InboxKey, params: dict[str, Any]) -> None:
    """A drop under `inbox/{username}/{folder}/` forms or joins the batch `folder`.

    Called after the job is written, not before: a batch removed (with its last job)
    meanwhile comes back under the same id, and a redelivered event repairs a crash in
    between. A lone mate waiting for its partner is not a sample of the batch yet."""
    if key.folder:
        batches.ensure_inbox_batch(user_id, key.folder, params)


def _process_inbox_mate(
    ref: ObjectRef, key: s3layout.InboxKey, user: Any, info: ObjectInfo, pair: s3layout.MatePair, request_id: str
) -> Outcome:
    """One mate of a dropped read pair (`{sample}_R1…` / `_R2…`).

    Alone, it waits: a Submitted job whose id derives from this object's write (so a
    repeated event finds it) says so in the user's job list, and maintenance reports it
    if the partner never comes. When both objects exist, the pair's job id derives from
    both writes, so the events of both mates (repeated or concurrent) compute the same
    job; its creator removes the waiting records, and the claim runs it once.
    """
    prefix = ref.key[: len(ref.key) - len(key.filename)]
    first = ObjectRef(ref.bucket, prefix + pair.first)
    second = ObjectRef(ref.bucket, prefix + pair.second)
    other = second if pair.is_first else first
    other_info = head_object(other)
    if other_info is None:
        waiting = _waiting_job(ref, info, user, pair, first, second)
        other_info = head_object(other)  # it may have arrived meanwhile: then this event pairs them
        if other_info is None:
            return Outcome(ref.key, WAITING, waiting, f"waiting for {_filename(other)}")
    infos = {ref.key: info, other.key: other_info}
    first_info, second_info = infos[first.key], infos[second.key]
    job_id = str(uuid.uuid5(
        INBOX_NAMESPACE,
        "pair:" + first_info.identity(first.bucket, first.key) + "|" + second_info.identity(second.bucket, second.key),
    ))
    name, params, problem, ignored = metadata_settings(first_info.metadata, pair.sample)
    try:
        job = lifecycle.create_job(
            user_id=user.user_id, job_name=name, params=params, job_id=job_id,
            model_name=params.get("model_name", "resfinder"), input_key=first.key, input_filename=pair.first,
            mate_key=second.key, mate_filename=pair.second, source="inbox",
            batch_id=batches.inbox_batch_id(user.user_id, key.folder) if key.folder else None,
        )
    except Conflict:
        logger.info("inbox pair job exists already", extra={"job_id": job_id, "key": ref.key})
        job = lifecycle.get_job(job_id)
    else:
        for mate in (first, second):
            tag(mate, "accepted", f"job {job_id}", job_id=job_id)
        if ignored:
            _event(job_id, f"Ignored object metadata that names no parameter: {', '.join(ignored)}", "WARNING")
    for mate, mate_info in ((first, first_info), (second, second_info)):
        _drop_waiting(_waiting_id(mate, mate_info), job_id)
    _join_folder_batch(user.user_id, key, params)
    return run_job(job, ref, first_info, request_id, problem=problem, mate=(second, second_info))


def _waiting_id(ref: ObjectRef, info: ObjectInfo) -> str:
    return str(uuid.uuid5(INBOX_NAMESPACE, "waiting:" + info.identity(ref.bucket, ref.key)))


def _waiting_job(
    ref: ObjectRef, info: ObjectInfo, user: Any, pair: s3layout.MatePair, first: ObjectRef, second: ObjectRef
) -> str:
    """The Submitted record of a lone mate (idempotent); returns its id."""
    job_id = _waiting_id(ref, info)
    other = pair.second if pair.is_first else pair.first
    try:
        lifecycle.create_job(
            user_id=user.user_id, job_name=pair.sample, params={}, job_id=job_id, input_key=first.key,
            input_filename=pair.first, mate_key=second.key, mate_filename=pair.second, source="inbox",
        )
    except Conflict:
        return job_id
    _event(job_id, f"Received {_filename(ref)}; waiting for its mate {other}")
    tag(ref, "waiting", f"waiting for mate {other}", job_id=job_id)
    return job_id


def _drop_waiting(job_id: str, pair_job_id: str) -> None:
    """Remove a lone mate's waiting record once its pair has a job (best effort: a record
    that stays is reported by maintenance and purged by retention)."""
    try:
        job = lifecycle.get_job(job_id)
    except NotFound:
        return
    if job.status != lifecycle.SUBMITTED:
        return
    try:
        lifecycle.delete_job(job)
        logger.info("waiting mate record replaced by its pair's job", extra={"job_id": job_id, "pair_job": pair_job_id})
    except (InvalidTransition, NotFound):
        pass
    except ServiceError as exc:
        logger.warning("waiting mate record not removed", extra={"job_id": job_id, "cause": exc.message})


def _active_user(username: str) -> tuple[Any, str]:
    """The active account named `username`, or None and the reason."""
    from chalicelib.accounts import users  # the accounts module; loaded only when an inbox drop needs it

    try:
        user = users.get_user_by_username(username)
    except NotFound:
        user = None
    if user is None:
        return None, f"unknown user {username}"
    if not getattr(user, "is_active", False):
        return None, f"user {username} is not active"
    return user, ""


def inbox_job_id(ref: ObjectRef) -> str:
    """Deterministic job id of a dropped object: the same write always maps to the same job."""
    return str(uuid.uuid5(INBOX_NAMESPACE, ref.identity()))


# --------------------------------------------------------------------------- metadata


def metadata_settings(
    metadata: Mapping[str, str], filename: str
) -> tuple[str, dict[str, Any], str | None, list[str]]:
    """Job name and params from object metadata: (name, params, problem, ignored names).

    `x-amz-meta-job-name` names the job (default: the file name). Other entries naming a
    parameter of SPEC §6 or §12 (`segment_length` or `segment-length`, `species`,
    `point-mutations`) override its default.
    Values are text: they are converted to the parameter's type, then validated by the
    same model as `POST /jobs` params, so both entry points accept exactly the same
    values. An invalid value is a `problem` (the job then ends in Error naming it);
    unknown names are ignored and listed, because upload tools add their own metadata.
    """
    name = _CONTROL.sub("", filename)[:schemas.MAX_JOB_NAME]
    overrides: dict[str, Any] = {}
    header_of: dict[str, str] = {}
    problems: list[str] = []
    ignored: list[str] = []
    fields = PredictParams.__dataclass_fields__
    for raw_name, raw_value in sorted(metadata.items()):
        meta_name = raw_name.lower()
        value = str(raw_value).strip()
        if meta_name in (JOB_NAME_METADATA, "job_name"):
            name = _CONTROL.sub("", value)[:schemas.MAX_JOB_NAME].strip() or name
            continue
        param = meta_name.replace("-", "_")
        if param not in fields:
            ignored.append(meta_name)
            continue
        header_of[param] = f"x-amz-meta-{meta_name}"
        try:
            overrides[param] = _convert(value, _kind(fields[param].type))
        except ValueError:
            problems.append(f"{header_of[param]}={value!r} is not a valid {param}")
    if not problems:
        from pydantic import ValidationError  # loaded with schemas, only for inbox drops

        try:
            return name, schemas.JobParams.model_validate(overrides).to_store(), None, ignored
        except ValidationError as exc:
            problems = [_describe(error, header_of) for error in exc.errors()]
    return name, {}, "invalid parameter in object metadata: " + "; ".join(problems), ignored


def _describe(error: Mapping[str, Any], header_of: Mapping[str, str]) -> str:
    """A validation error in the user's terms: the metadata header they set."""
    loc = [str(part) for part in error.get("loc", ())]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return f"{header_of.get(loc[0], loc[0])}: {message}" if loc else message


def _kind(annotation: Any) -> type:
    """The type a parameter's annotation names first (`bool | None` is a bool)."""
    first = str(annotation).split("|")[0].strip()
    return {"bool": bool, "int": int, "float": float}.get(first, str)


def _convert(text: str, kind: type) -> Any:
    """Metadata values are strings; parameters are typed."""
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text


# --------------------------------------------------------------------------- running


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
    sizes = {"input_size": inputs[0][1].size}
    if mate is not None:
        sizes["mate_size"] = mate[1].size
    try:
        job = lifecycle.transition(job, lifecycle.RUNNING, **sizes)
    except InvalidTransition:
        logger.info("job not claimed: already taken or no longer Submitted", extra={"key": event_key})
        return Outcome(event_key, DUPLICATE, job.job_id, "job is not Submitted")
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
        _event(job.job_id, f"Prediction stopped after {what}: job cancelled")
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
        return f"{_filename(ref)}: file too large ({info.size} bytes; the limit is {limit} bytes)"
    return None


def _filename(ref: ObjectRef) -> str:
    return ref.key.rsplit("/", 1)[-1]


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
    names = [_filename(r) for r, _ in inputs]
    filename = " + ".join(names)
    total = sum(i.size for _, i in inputs)
    _event(
        job.job_id,
        f"Prediction started: {filename} ({total} bytes) against {db.name} {db.version}",
        data={"params": params.to_dict(), "database": {"name": db.name, "version": db.version}},
    )
    tracker = ProgressTracker(job.job_id)
    with timed("prediction.ms"):
        bodies = [open_body(r) for r, _ in inputs]
        try:
            if s3layout.is_fastq_name(names[0]):
                pred = reads_predictor.predict_streams(
                    bodies, names, total, max_bytes=s3layout.max_upload_bytes(), params=params,
                    on_batch=tracker, db=db,
                )
            else:
                pred = acquired.predict_stream(
                    bodies[0], name=names[0], size=total, max_bytes=s3layout.max_upload_bytes(),
                    params=params, on_batch=tracker, db=db,
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
    return (
        f"Completed: {found} in {source}, {pred.seconds:.1f} s; "
        + (f"resistant to {resistant}" if resistant else "no resistance predicted")
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
                _event(
                    self.job_id,
                    f"Progress {pct:.0f}%: batch {progress.batch}, {progress.reads} reads, "
                    f"{progress.bytes_read or 0} bytes read, {progress.hits} reads on resistance genes",
                    data={"batch": progress.batch, "progress": str(pct), "reads": progress.reads,
                          "bytes_read": progress.bytes_read or 0},
                )
                return True
            _event(
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


def reject(ref: ObjectRef, reason: str, job_id: str | None = None) -> Outcome:
    """No job for this object: say why in the log and on the object itself."""
    logger.warning("upload rejected", extra={"key": ref.key, "reason": reason, "job_id": job_id})
    count("uploads.rejected")
    tag(ref, "rejected", reason)
    return Outcome(ref.key, REJECTED, job_id, reason)


# --------------------------------------------------------------------------- storage


def _event(job_id: str, message: str, level: str = "INFO", data: dict[str, Any] | None = None) -> None:
    """A job event that must not fail the prediction when the log write fails."""
    try:
        lifecycle.append_event(job_id, message, level, data)
    except ServiceError as exc:
        logger.warning("job event not written", extra={"message": message, "cause": exc.message})


def _not_found(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


@storage_call("s3.head")
def head_object(ref: ObjectRef) -> ObjectInfo | None:
    """Size and metadata of the object, or None if it is gone."""
    try:
        head = aws.client("s3").head_object(Bucket=ref.bucket, Key=ref.key)
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise
    modified = head.get("LastModified")
    return ObjectInfo(
        size=int(head.get("ContentLength", 0)),
        metadata=dict(head.get("Metadata") or {}),
        etag=str(head.get("ETag") or ""),
        version_id=head.get("VersionId") if isinstance(head.get("VersionId"), str) else None,
        last_modified=modified.isoformat() if hasattr(modified, "isoformat") else str(modified or ""),
    )


@storage_call("s3.get")
def open_body(ref: ObjectRef) -> "InputBody":
    """The object's streaming body: read in chunks by the FASTA reader, never whole."""
    return InputBody(aws.client("s3").get_object(Bucket=ref.bucket, Key=ref.key)["Body"])


class InputBody:
    """A StreamingBody whose mid-stream failures (timeouts, dropped connections) become
    StorageUnavailable, so the job error says what happened instead of "internal error"."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, n: int = -1) -> bytes:
        try:
            return self._body.read(n)
        except (BotoCoreError, ClientError, OSError) as exc:
            logger.warning("reading the input failed", extra={"error": repr(exc)})
            raise StorageUnavailable(
                "Storage is temporarily unavailable (reading the uploaded file); please upload it again."
            ) from exc

    def close(self) -> None:
        self._body.close()


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


def tag(ref: ObjectRef, status: str, reason: str, job_id: str | None = None) -> None:
    """Tag the object (best effort: a tag is information for people, not state)."""
    tags = [{"Key": TAG_STATUS, "Value": status}, {"Key": TAG_REASON, "Value": _tag_value(reason)}]
    if job_id:
        tags.append({"Key": TAG_JOB, "Value": job_id})
    try:
        aws.client("s3").put_object_tagging(Bucket=ref.bucket, Key=ref.key, Tagging={"TagSet": tags})
    except Exception as exc:  # noqa: BLE001 - the object may be gone; never fail over a tag
        logger.warning("could not tag object", extra={"key": ref.key, "error": repr(exc)})


def _tag_value(text: str) -> str:
    """S3 tag values allow letters, digits, spaces and + - = . _ : / @, up to 256 characters."""
    return _TAG_UNSAFE.sub(" ", text).strip()[:256]

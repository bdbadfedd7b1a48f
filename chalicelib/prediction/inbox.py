"""Inbox drops (design §7): `inbox/{username}/[{folder}/]{filename}` creates a job for that
active user, named and parametrised by the object's metadata, then runs it like an API
upload; a drop under a folder joins the batch of that folder.

A job's id derives from the object's identity (bucket, key, version or sequencer, ETag), so
a repeated event computes the same id and `create_job` refuses the duplicate. The two mates
of a dropped read pair (`{sample}_R1…`, `{sample}_R2…`) make one job: a lone mate waits in
a Submitted record, and the pair's job id derives from both objects.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from chalicelib.core.errors import Conflict, InvalidTransition, NotFound, ServiceError
from chalicelib.core.lazy import lazy_import
from chalicelib.core.observability import logger
from chalicelib.jobs import lifecycle, queries, quotas, s3layout
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import objects
from chalicelib.prediction.objects import ObjectInfo, ObjectRef, filename_of
from chalicelib.prediction.outcomes import IGNORED, WAITING, Outcome, job_event, reject
from chalicelib.prediction.runner import run_job

schemas = lazy_import("chalicelib.jobs.schemas")  # pydantic models: only inbox drops need them
batches = lazy_import("chalicelib.batches.store")  # only drops into a batch folder need it

#: Namespace of inbox job ids (uuid5 of the object identity): fixed forever, or a
#: redelivered event after a deployment would create a second job.
INBOX_NAMESPACE = uuid.UUID("8c4b7e0e-4a9e-5d1f-9a57-2f1b6c0d3e21")
JOB_NAME_METADATA = "job-name"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def process_drop(ref: ObjectRef, key: s3layout.InboxKey, request_id: str) -> Outcome:
    """An object dropped into `inbox/{username}/`: a job for that active user, run at once
    (one mate of a read pair waits for the other)."""
    user, why_not = _active_user(key.username)
    if user is None:
        return reject(ref, why_not)
    info = objects.head_object(ref)
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
    refused = _over_quota(user, job_id)
    if refused is not None:
        return reject(ref, refused)
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
        job = queries.get_job(job_id)
    else:
        objects.tag(ref, "accepted", f"job {job_id}", job_id=job_id)
        if ignored:
            job_event(job_id, f"Ignored object metadata that names no parameter: {', '.join(ignored)}", "WARNING")
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
    other_info = objects.head_object(other)
    if other_info is None:
        waiting = _waiting_job(ref, info, user, pair, first, second)
        other_info = objects.head_object(other)  # it may have arrived meanwhile: then this event pairs them
        if other_info is None:
            return Outcome(ref.key, WAITING, waiting, f"waiting for {filename_of(other)}")
    infos = {ref.key: info, other.key: other_info}
    first_info, second_info = infos[first.key], infos[second.key]
    job_id = str(
        uuid.uuid5(
            INBOX_NAMESPACE,
            "pair:"
            + first_info.identity(first.bucket, first.key)
            + "|"
            + second_info.identity(second.bucket, second.key),
        )
    )
    name, params, problem, ignored = metadata_settings(first_info.metadata, pair.sample)
    try:
        job = lifecycle.create_job(
            user_id=user.user_id,
            job_name=name,
            params=params,
            job_id=job_id,
            model_name=params.get("model_name", "resfinder"),
            input_key=first.key,
            input_filename=pair.first,
            mate_key=second.key,
            mate_filename=pair.second,
            source="inbox",
            batch_id=batches.inbox_batch_id(user.user_id, key.folder) if key.folder else None,
        )
    except Conflict:
        logger.info("inbox pair job exists already", extra={"job_id": job_id, "key": ref.key})
        job = queries.get_job(job_id)
    else:
        for mate in (first, second):
            objects.tag(mate, "accepted", f"job {job_id}", job_id=job_id)
        if ignored:
            job_event(job_id, f"Ignored object metadata that names no parameter: {', '.join(ignored)}", "WARNING")
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
            user_id=user.user_id,
            job_name=pair.sample,
            params={},
            job_id=job_id,
            input_key=first.key,
            input_filename=pair.first,
            mate_key=second.key,
            mate_filename=pair.second,
            source="inbox",
        )
    except Conflict:
        return job_id
    job_event(job_id, f"Received {filename_of(ref)}; waiting for its mate {other}")
    objects.tag(ref, "waiting", f"waiting for mate {other}", job_id=job_id)
    return job_id


def _drop_waiting(job_id: str, pair_job_id: str) -> None:
    """Remove a lone mate's waiting record once its pair has a job (best effort: a record
    that stays is reported by maintenance and purged by retention)."""
    try:
        job = queries.get_job(job_id)
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


def _over_quota(user: Any, job_id: str) -> str | None:
    """Why a new inbox job of `user` is refused by the quotas (design §23); a repeated event
    of a job that exists already is not counted again."""
    try:
        queries.get_job(job_id)
        return None
    except NotFound:
        pass
    try:
        quotas.admit(user.user_id, 1, role=getattr(user, "role", "user") or "user")
    except ServiceError as exc:
        if exc.status != 429:
            raise
        return exc.message
    return None


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


def metadata_settings(metadata: Mapping[str, str], filename: str) -> tuple[str, dict[str, Any], str | None, list[str]]:
    """Job name and params from object metadata: (name, params, problem, ignored names).

    `x-amz-meta-job-name` names the job (default: the file name). Other entries naming a
    parameter of design §6 or §12 (`segment_length` or `segment-length`, `species`,
    `point-mutations`) override its default.
    Values are text: they are converted to the parameter's type, then validated by the
    same model as `POST /jobs` params, so both entry points accept exactly the same
    values. An invalid value is a `problem` (the job then ends in Error naming it);
    unknown names are ignored and listed, because upload tools add their own metadata.
    """
    name = _CONTROL.sub("", filename)[: schemas.MAX_JOB_NAME]
    overrides: dict[str, Any] = {}
    header_of: dict[str, str] = {}
    problems: list[str] = []
    ignored: list[str] = []
    fields = PredictParams.__dataclass_fields__
    for raw_name, raw_value in sorted(metadata.items()):
        meta_name = raw_name.lower()
        value = str(raw_value).strip()
        if meta_name in (JOB_NAME_METADATA, "job_name"):
            name = _CONTROL.sub("", value)[: schemas.MAX_JOB_NAME].strip() or name
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

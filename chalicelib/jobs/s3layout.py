"""Where a job's objects live in S3 (design §7), and the operations on them.

uploads bucket:  uploads/{user_id}/{job_id}/{filename}   (API uploads, presigned POST)
                 inbox/{username}/{filename}            (bucket drops)
                 inbox/{username}/{folder}/{filename}   (bucket drops forming the batch {folder})
results bucket:  results/{user_id}/{job_id}/{name}
archive bucket:  archive/{user_id}/{job_id}/{name}.gz
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.aws import storage_call
from chalicelib.core.settings import get_settings

UPLOAD_URL_SECONDS = 3600
DOWNLOAD_URL_SECONDS = 3600
DEFAULT_MAX_UPLOAD_BYTES = 500 * 1024 * 1024
MAX_UPLOAD_ENV = "AMR_MAX_UPLOAD_BYTES"
FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
FASTQ_SUFFIXES = (".fq", ".fastq")
#: Files a completed job has under `results/{user_id}/{job_id}/` (design §6).
PREDICTIONS_JSON, PREDICTIONS_TSV, HAMRONIZATION_TSV = "predictions.json", "predictions.tsv", "hamronization.tsv"
POINTFINDER_TSV, PHENOTYPES_TSV = "pointfinder.tsv", "phenotypes.tsv"
MLST_TSV, PLASMIDS_TSV = "mlst.tsv", "plasmids.tsv"
RESULT_FILES = (
    PREDICTIONS_JSON,
    PREDICTIONS_TSV,
    HAMRONIZATION_TSV,
    POINTFINDER_TSV,
    PHENOTYPES_TSV,
    MLST_TSV,
    PLASMIDS_TSV,
)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_UPLOAD_KEY = re.compile(r"^uploads/([^/]+)/([0-9a-f-]{36})/([^/]+)$")
_INBOX_KEY = re.compile(r"^inbox/([^/]+)/(?:([^/]{1,128})/)?([^/]+)$")
#: Mates of a read pair (design §12): `{sample}_R1…`/`_R2…`, `_1`/`_2`, Illumina's `_R1_001`.
_MATE = re.compile(r"^(?P<sample>.+?)_(?P<r>[Rr]?)(?P<n>[12])(?P<tail>(?:_001)?\.(?:fq|fastq|FQ|FASTQ)(?:\.gz|\.GZ)?)$")


@dataclass(frozen=True)
class UploadKey:
    user_id: str
    job_id: str
    filename: str


@dataclass(frozen=True)
class InboxKey:
    username: str
    filename: str
    #: a drop under `inbox/{username}/{folder}/` joins the batch named `folder`
    folder: str | None = None


def _stem(filename: str) -> str:
    name = filename.lower()
    return name[:-3] if name.endswith(".gz") else name


def is_fasta_name(filename: str) -> bool:
    return _stem(filename).endswith(FASTA_SUFFIXES)


def is_fastq_name(filename: str) -> bool:
    """Reads (design §12): `.fq`/`.fastq`, optionally `.gz`."""
    return _stem(filename).endswith(FASTQ_SUFFIXES)


def is_input_name(filename: str) -> bool:
    return is_fasta_name(filename) or is_fastq_name(filename)


def valid_filename(filename: str) -> bool:
    """Names we put into keys: a plain FASTA or FASTQ name, no paths, no odd characters."""
    return bool(_SAFE_NAME.match(filename)) and not filename.startswith(".") and is_input_name(filename)


@dataclass(frozen=True)
class MatePair:
    """The two file names of a read pair, known from either one."""

    sample: str
    first: str  # the R1 / _1 file name
    second: str  # the R2 / _2 file name
    is_first: bool  # whether the name asked about is the first mate


def mate_pair(filename: str) -> MatePair | None:
    """The pair a FASTQ name belongs to (`x_R1.fastq.gz` ↔ `x_R2.fastq.gz`, `x_1.fq` ↔
    `x_2.fq`, `x_S1_L001_R1_001.fastq.gz` ↔ `…_R2_001…`); None for any other name."""
    match = _MATE.match(filename)
    if match is None:
        return None
    sample, r, n, tail = match.group("sample", "r", "n", "tail")
    first, second = f"{sample}_{r}1{tail}", f"{sample}_{r}2{tail}"
    return MatePair(sample, first, second, n == "1")


def max_upload_bytes() -> int:
    """The input size limit: presigned POSTs and the prediction function enforce it."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_UPLOAD_BYTES


def upload_key(user_id: str, job_id: str, filename: str) -> str:
    return f"uploads/{user_id}/{job_id}/{filename}"


def results_prefix(user_id: str, job_id: str) -> str:
    return f"results/{user_id}/{job_id}/"


def result_key(user_id: str, job_id: str, name: str) -> str:
    return results_prefix(user_id, job_id) + name


def archive_prefix(user_id: str, job_id: str) -> str:
    return f"archive/{user_id}/{job_id}/"


def decode_event_key(raw: str) -> str:
    """S3 event keys are URL-encoded with spaces as '+'."""
    return unquote_plus(raw)


def parse_key(key: str) -> UploadKey | InboxKey | None:
    """Classify a decoded upload-bucket key; None for anything we do not handle."""
    match = _UPLOAD_KEY.match(key)
    if match:
        return UploadKey(*match.groups())
    match = _INBOX_KEY.match(key)
    if match:
        username, folder, filename = match.groups()
        if folder is not None and (not folder.strip() or any(ord(c) < 32 or ord(c) == 127 for c in folder)):
            return None
        return InboxKey(username, filename, folder)
    return None


@storage_call("s3.presign_post")
def presigned_upload(key: str, max_bytes: int) -> dict[str, Any]:
    """A presigned POST for exactly `key`, limited in size, valid for one hour."""
    post = aws.client("s3").generate_presigned_post(
        Bucket=get_settings().upload_bucket,
        Key=key,
        Conditions=[["content-length-range", 1, max_bytes]],
        ExpiresIn=UPLOAD_URL_SECONDS,
    )
    return {"url": post["url"], "fields": post["fields"], "expires_in": UPLOAD_URL_SECONDS}


@storage_call("s3.presign_get")
def presigned_download(bucket: str, key: str) -> str:
    return aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=DOWNLOAD_URL_SECONDS
    )


@storage_call("s3.put")
def put_object(bucket: str, key: str, body: bytes, content_type: str, **extra: Any) -> None:
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **extra)


@storage_call("s3.get")
def get_object_bytes(bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None if it does not exist."""
    try:
        return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def _keys_under(bucket: str, prefix: str) -> Iterable[str]:
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def job_prefixes(user_id: str, job_id: str) -> list[tuple[str, str]]:
    """Every (bucket, prefix) that can hold objects of a job."""
    settings = get_settings()
    return [
        (settings.upload_bucket, f"uploads/{user_id}/{job_id}/"),
        (settings.results_bucket, results_prefix(user_id, job_id)),
        (settings.archive_bucket, archive_prefix(user_id, job_id)),
    ]


@storage_call("s3.delete_job_objects")
def delete_job_objects(user_id: str, job_id: str, extra_keys: Iterable[tuple[str, str]] = ()) -> int:
    """Delete every object of a job; idempotent, so an interrupted purge can rerun it."""
    s3 = aws.client("s3")
    deleted = 0
    targets: dict[str, set[str]] = {}
    for bucket, prefix in job_prefixes(user_id, job_id):
        targets.setdefault(bucket, set()).update(_keys_under(bucket, prefix))
    for bucket, key in extra_keys:
        targets.setdefault(bucket, set()).add(key)
    for bucket, keys in targets.items():
        ordered = sorted(keys)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
            deleted += len(chunk)
    return deleted


#: Tag the prediction function puts on an accepted inbox drop, naming its job.
TAG_JOB = "amr-job-id"


@storage_call("s3.get_tags")
def object_tags(bucket: str, key: str) -> dict[str, str]:
    """An object's tags ({} when it does not exist)."""
    try:
        tag_set = aws.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def owned_input(job: Any) -> str | None:
    """The job's input key if the object there is this job's own.

    API uploads live under the job's prefix. An inbox drop (`inbox/{username}/{file}`)
    may since have been overwritten by a newer drop that belongs to another job, so it
    counts only while it carries this job's id tag.
    """
    return _owned(job, job.input_key)


def owned_mate(job: Any) -> str | None:
    """The job's second mate (paired reads) if the object there is this job's own."""
    return _owned(job, getattr(job, "mate_key", None))


def _owned(job: Any, key: str | None) -> str | None:
    if not key:
        return None
    if key.startswith(f"uploads/{job.user_id}/{job.job_id}/"):
        return key
    if object_tags(get_settings().upload_bucket, key).get(TAG_JOB) == job.job_id:
        return key
    return None


def delete_objects_of(job: Any) -> int:
    """Delete every object of a job: its prefixes, recorded keys and its own input."""
    settings = get_settings()
    extra = [(settings.results_bucket, k) for k in job.result_keys or []]
    extra += [(settings.archive_bucket, k) for k in job.archive_keys or [] if "/" in k]
    for key in (owned_input(job), owned_mate(job)):
        if key:
            extra.append((settings.upload_bucket, key))
    return delete_job_objects(job.user_id, job.job_id, extra)

"""The uploaded objects as the prediction function sees them (design §7): which object an
event names (:class:`ObjectRef`), what `head_object` says of it (:class:`ObjectInfo`), its
body read as a stream (:func:`open_body`), and the tags that tell people what became of it
(:func:`tag`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core import aws
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.observability import logger

TAG_STATUS, TAG_REASON, TAG_JOB = "amr-status", "amr-reason", "amr-job-id"
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9 +\-=._:/@]")


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


def filename_of(ref: ObjectRef) -> str:
    return ref.key.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- reading


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
def open_body(ref: ObjectRef) -> InputBody:
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


# --------------------------------------------------------------------------- tagging


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

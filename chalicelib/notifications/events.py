"""Events from table changes: what happened, to whom, under which stable id.

A change stream delivers each record at least once (a failed batch of records is read
again), so an event's id is derived from the change itself — the subject, the event type
and the time of the change — never drawn at random: the same change always yields the
same event id, and receivers de-duplicate by it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib.core.settings import get_settings

JOB_COMPLETED, JOB_FAILED, BATCH_FINISHED = "job.completed", "job.failed", "batch.finished"
#: Job statuses that announce an event, and which.
JOB_EVENTS = {"Completed": JOB_COMPLETED, "Error": JOB_FAILED}
#: Namespace of event ids: uuid5(namespace, "{type}:{subject}:{occurred_at}").
EVENT_NAMESPACE = uuid.UUID("9f1c0b7e-3a52-4c4e-8d8a-2f7e51c6a0d4")
#: The shape of the JSON body; bumped only for incompatible changes.
API_VERSION = "2026-11-01"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    user_id: str
    occurred_at: str
    data: dict[str, Any]

    def body(self) -> bytes:
        """The exact bytes sent (and signed): compact JSON, keys in a fixed order."""
        document = {
            "id": self.id,
            "type": self.type,
            "created_at": self.occurred_at,
            "api_version": API_VERSION,
            "data": self.data,
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def event_id(event_type: str, subject: str, occurred_at: str) -> str:
    return "evt_" + uuid.uuid5(EVENT_NAMESPACE, f"{event_type}:{subject}:{occurred_at}").hex


def image(record: dict[str, Any], which: str) -> dict[str, Any]:
    """A stream record's NewImage/OldImage as plain Python (numbers as int or float)."""
    raw = (record.get("dynamodb") or {}).get(which)
    if not isinstance(raw, dict):
        return {}
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in raw.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, bytes):
        return None
    return value


def links(path: str) -> dict[str, str]:
    """Absolute links when the public URL is known (`AMR_PUBLIC_URL`), else none."""
    base = get_settings().public_url
    return {"api": f"{base}{path}", "web": f"{base}/#{path}"} if base else {}


def status_change(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(new, old) images of a record that changed a job's status, else None."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    new, old = image(record, "NewImage"), image(record, "OldImage")
    if not new or new.get("status") == old.get("status"):
        return None
    return new, old


def job_event(new: dict[str, Any]) -> Event | None:
    """`job.completed` / `job.failed` for a job that has just entered that status."""
    event_type = JOB_EVENTS.get(str(new.get("status")))
    if event_type is None or not new.get("job_id") or not new.get("user_id"):
        return None
    occurred = str(new.get("status_changed_at") or new.get("updated_at") or "")
    job_id = str(new["job_id"])
    job = {
        "job_id": job_id,
        "job_name": new.get("job_name"),
        "status": new.get("status"),
        "batch_id": new.get("batch_id"),
        "created_at": new.get("created_at"),
        "started_at": new.get("started_at"),
        "completed_at": new.get("completed_at"),
        "error": new.get("error"),
        "summary": _job_summary(new.get("summary")),
        "links": links(f"/jobs/{job_id}"),
    }
    return Event(event_id(event_type, job_id, occurred), event_type, str(new["user_id"]), occurred, {"job": job})


def _job_summary(summary: Any) -> dict[str, Any] | None:
    """What a receiver needs to triage without fetching results: counts and resistances."""
    if not isinstance(summary, dict):
        return None
    keep = ("species", "genes", "gene_names", "mutations", "mutation_names", "drug_classes", "resistant", "resistance")
    return {key: summary[key] for key in keep if key in summary}


def batch_finished(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Did this batch record change say 'finished' (again, with more jobs)?"""
    return bool(new.get("finished_at")) and new.get("finished_total") != old.get("finished_total")


def batch_event(batch: dict[str, Any], highlights: dict[str, Any]) -> Event:
    """`batch.finished` from the batch as the API shows it and its resistance highlights."""
    batch_id = str(batch["batch_id"])
    occurred = str(batch["finished_at"])
    data = {**{k: v for k, v in batch.items() if k != "finished_at"}, "finished_at": occurred}
    data["highlights"] = highlights
    data["links"] = links(f"/batches/{batch_id}")
    return Event(
        event_id(BATCH_FINISHED, batch_id, occurred), BATCH_FINISHED, str(batch["user_id"]), occurred, {"batch": data}
    )

"""What handling one uploaded object ended in (:class:`Outcome`, returned for tests,
tooling and logs), and the two notes a step may leave on the way: a job event
(:func:`job_event`, best effort) and, for an object that starts no job, the reason in the
log and on the object (:func:`reject`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.core.errors import ServiceError
from chalicelib.core.observability import count, logger
from chalicelib.jobs import lifecycle
from chalicelib.prediction import objects
from chalicelib.prediction.objects import ObjectRef

# Outcomes of one record (returned for tests, tooling and logs).
COMPLETED, FAILED, CANCELLED = "completed", "error", "cancelled"
DUPLICATE, REJECTED, IGNORED, RETRY = "duplicate", "rejected", "ignored", "retry"
#: a mate of a read pair arrived; the job starts when the other one arrives
WAITING = "waiting"


@dataclass(frozen=True)
class Outcome:
    key: str
    outcome: str
    job_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "outcome": self.outcome, "job_id": self.job_id, "reason": self.reason}


def reject(ref: ObjectRef, reason: str, job_id: str | None = None) -> Outcome:
    """No job for this object: say why in the log and on the object itself."""
    logger.warning("upload rejected", extra={"key": ref.key, "reason": reason, "job_id": job_id})
    count("uploads.rejected")
    objects.tag(ref, "rejected", reason)
    return Outcome(ref.key, REJECTED, job_id, reason)


def job_event(job_id: str, message: str, level: str = "INFO", data: dict[str, Any] | None = None) -> None:
    """A job event that must not fail the prediction when the log write fails."""
    try:
        lifecycle.append_event(job_id, message, level, data)
    except ServiceError as exc:
        logger.warning("job event not written", extra={"message": message, "cause": exc.message})

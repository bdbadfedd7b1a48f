"""Shared test data and helpers about the lifecycle."""
from __future__ import annotations

from chalicelib.core.tables import JobModel
from chalicelib.jobs import lifecycle

#: Legal moves that bring a fresh (Submitted) job into each status.
PATHS: dict[str, list[str]] = {
    "Submitted": [],
    "Running": ["Running"],
    "Completed": ["Running", "Completed"],
    "Error": ["Running", "Error"],
    "Archived": ["Running", "Completed", "Archived"],
    "Cancelled": ["Cancelled"],
}


def make_job(user: str = "u1", name: str = "job") -> JobModel:
    """A Submitted job of `user`."""
    return lifecycle.create_job(user_id=user, job_name=name, params={"segment_length": 1000})


def job_in(status: str, user: str = "u1") -> JobModel:
    """A job of `user` brought into `status` by legal moves."""
    job = make_job(user)
    for step in PATHS[status]:
        job = lifecycle.transition(job.job_id, step)
    return job

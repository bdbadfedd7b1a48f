"""Job reads on moto (`jobs.queries`): a job by id and by owner, a user's jobs page by page
and the page tokens, events in order, jobs by status, statistics from the counters."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.core import clock
from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import InvalidToken, NotFound
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from tests.lifecycle import job_in, make_job

pytestmark = pytest.mark.usefixtures("aws_env")


def test_get_unknown_and_foreign_job_is_not_found() -> None:
    with pytest.raises(NotFound):
        queries.get_job("00000000-0000-4000-8000-000000000000")
    job = make_job("alice")
    with pytest.raises(NotFound):
        queries.get_job_for(job.job_id, "bob")
    assert queries.get_job_for(job.job_id, "bob", is_admin=True).job_id == job.job_id


def collect(user: str, status: str | None, limit: int) -> tuple[list[str], int]:
    token, names, pages = None, [], 0
    while True:
        page = queries.list_user_jobs(user, status=status, limit=limit, next_token=token)
        pages += 1
        names += [j.job_name for j in page.items]
        token = page.next_token
        if token is None:
            return names, pages


def test_pagination_newest_first_across_pages(fake_clock: FakeClock) -> None:
    for i in range(7):
        make_job("alice", name=f"a{i}")
        fake_clock.advance(seconds=1)
    make_job("bob", name="b0")
    names, pages = collect("alice", None, 3)
    assert names == [f"a{i}" for i in reversed(range(7))]
    assert pages == 3


def test_pagination_with_status_filter(fake_clock: FakeClock) -> None:
    for i in range(6):
        job = make_job("alice", name=f"a{i}")
        if i % 2:
            jobs.transition(job, "Running")
        fake_clock.advance(seconds=1)
    names, pages = collect("alice", "Running", 2)
    assert names == ["a5", "a3", "a1"]
    assert pages >= 2
    submitted, _ = collect("alice", "Submitted", 2)
    assert submitted == ["a4", "a2", "a0"]


def test_tampered_or_foreign_token_is_rejected(fake_clock: FakeClock) -> None:
    for i in range(3):
        make_job("alice", name=f"a{i}")
        fake_clock.advance(seconds=1)
    token = queries.list_user_jobs("alice", limit=1).next_token
    assert token
    body, sig = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{flipped}.{sig}", f"{body}.{sig[::-1]}", "garbage", token + "x", "a.b.c"):
        with pytest.raises(InvalidToken):
            queries.list_user_jobs("alice", limit=1, next_token=bad)
    with pytest.raises(InvalidToken):  # replayed against another user
        queries.list_user_jobs("bob", limit=1, next_token=token)
    with pytest.raises(InvalidToken):  # replayed against another filter
        queries.list_user_jobs("alice", status="Running", limit=1, next_token=token)
    assert [j.job_name for j in queries.list_user_jobs("alice", limit=1, next_token=token).items] == ["a1"]


def test_events_are_ordered_and_paginated(fake_clock: FakeClock) -> None:
    job = make_job()
    for i in range(5):
        jobs.append_event(job.job_id, f"step {i}")  # same millisecond: order still kept
    fake_clock.advance(seconds=1)
    jobs.transition(job.job_id, "Running")
    messages, token = [], None
    while True:
        page = queries.list_events(job.job_id, limit=2, next_token=token)
        messages += [e.message for e in page.items]
        token = page.next_token
        if not token:
            break
    assert messages == ["Job submitted (api)"] + [f"step {i}" for i in range(5)] + ["Status Submitted -> Running"]


def test_jobs_by_status_reads_only_due_jobs(fake_clock: FakeClock) -> None:
    old = [make_job(name=f"old{i}") for i in range(3)]
    fake_clock.advance(days=3)
    make_job(name="new")
    due, last = queries.jobs_by_status("Submitted", changed_before=clock.iso_before(timedelta(days=2)))
    assert sorted(j.job_id for j in due) == sorted(j.job_id for j in old)
    fake_clock.advance(seconds=1)
    first, last = queries.jobs_by_status("Submitted", changed_before=clock.now_iso(), limit=2)
    assert len(first) == 2 and last is not None
    rest, last = queries.jobs_by_status("Submitted", changed_before=clock.now_iso(), limit=2, last_key=last)
    assert len(rest) == 2


def test_stats_from_counters(fake_clock: FakeClock) -> None:
    a = job_in("Running", "alice")
    fake_clock.advance(seconds=30)
    jobs.transition(a.job_id, "Completed")
    b = job_in("Running", "alice")
    jobs.transition(b.job_id, "Error", error="boom")
    job_in("Submitted", "bob")
    alice = queries.get_stats(queries.user_scope("alice"))
    assert alice["total"] == 2
    assert alice["by_status"]["Completed"] == 1 and alice["by_status"]["Error"] == 1
    assert alice["success_rate"] == 0.5
    assert alice["avg_duration_seconds"] == 30.0
    assert alice["top_models"] == [{"model_name": "resfinder", "count": 2}]
    assert queries.get_stats("global")["total"] == 3
    assert queries.get_job(b.job_id).error == "boom"

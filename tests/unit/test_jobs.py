"""Job store and lifecycle on moto: transitions, races, pagination, events, counters."""
from __future__ import annotations

import threading
from itertools import product

import pytest

from chalicelib.jobs import lifecycle as jobs
from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import Conflict, InvalidToken, InvalidTransition, NotFound
from chalicelib.core.tables import STATUSES
from tests.lifecycle import PATHS

pytestmark = pytest.mark.usefixtures("aws_env")

LEGAL = {
    ("Submitted", "Running"),
    ("Submitted", "Cancelled"),
    ("Running", "Completed"),
    ("Running", "Error"),
    ("Running", "Cancelled"),
    ("Completed", "Archived"),
}


def make_job(user: str = "u1", name: str = "job") -> jobs.JobModel:
    return jobs.create_job(user_id=user, job_name=name, params={"segment_length": 1000})


def job_in(status: str, user: str = "u1") -> jobs.JobModel:
    job = make_job(user)
    for step in PATHS[status]:
        job = jobs.transition(job.job_id, step)
    return job


def test_create_and_get_round_trip(fake_clock: FakeClock) -> None:
    job = make_job()
    got = jobs.get_job(job.job_id)
    assert got.status == "Submitted" and got.progress == 0
    assert got.created_at == "2026-11-24T12:00:00.000Z" == got.status_changed_at
    assert got.params.as_dict() == {"segment_length": 1000}
    assert got.user_status == "u1#Submitted"


def test_create_with_existing_id_is_conflict() -> None:
    job = make_job()
    with pytest.raises(Conflict):
        jobs.create_job(user_id="u1", job_name="again", params={}, job_id=job.job_id)
    assert jobs.get_stats("global")["total"] == 1


def test_get_unknown_and_foreign_job_is_not_found() -> None:
    with pytest.raises(NotFound):
        jobs.get_job("00000000-0000-4000-8000-000000000000")
    job = make_job("alice")
    with pytest.raises(NotFound):
        jobs.get_job_for(job.job_id, "bob")
    assert jobs.get_job_for(job.job_id, "bob", is_admin=True).job_id == job.job_id


@pytest.mark.parametrize("src,dst", list(product(STATUSES, STATUSES)))
def test_every_transition_obeys_the_table(src: str, dst: str, fake_clock: FakeClock) -> None:
    job = job_in(src)
    fake_clock.advance(seconds=5)
    before = jobs.get_job(job.job_id)
    if (src, dst) in LEGAL:
        moved = jobs.transition(job.job_id, dst)
        stored = jobs.get_job(job.job_id)
        assert moved.status == stored.status == dst
        assert stored.status_changed_at == "2026-11-24T12:00:05.000Z"
        assert stored.user_status == f"u1#{dst}"
        if dst == "Running":
            assert stored.started_at == stored.heartbeat_at == stored.status_changed_at
        if dst in ("Completed", "Error", "Cancelled"):
            assert stored.completed_at == stored.status_changed_at
        if dst == "Completed":
            assert stored.progress == 100
    else:
        with pytest.raises(InvalidTransition):
            jobs.transition(job.job_id, dst)
        after = jobs.get_job(job.job_id)
        assert after.serialize() == before.serialize()


def test_stale_read_cannot_transition(fake_clock: FakeClock) -> None:
    job = make_job()
    stale = jobs.get_job(job.job_id)
    jobs.transition(job.job_id, "Cancelled")
    with pytest.raises(InvalidTransition):
        jobs.transition(stale, "Running")  # stale copy still says Submitted
    assert jobs.get_job(job.job_id).status == "Cancelled"
    stats = jobs.get_stats("global")["by_status"]
    assert stats["Cancelled"] == 1 and stats["Running"] == 0 and stats["Submitted"] == 0


def test_racing_transitions_exactly_one_wins() -> None:
    job = make_job()
    targets = ["Running", "Cancelled"] * 4
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(targets))

    def attempt(dst: str) -> None:
        snapshot = jobs.get_job(job.job_id)
        barrier.wait()
        try:
            jobs.transition(snapshot, dst)
            outcome = f"won:{dst}"
        except InvalidTransition:
            outcome = "lost"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1, results
    final = jobs.get_job(job.job_id).status
    assert winners[0] == f"won:{final}"
    stats = jobs.get_stats("global")
    assert stats["total"] == 1 and stats["by_status"][final] == 1
    events = jobs.list_events(job.job_id).items
    assert [e.message for e in events].count(f"Status Submitted -> {final}") == 1


def test_progress_never_goes_backwards_under_races() -> None:
    job = job_in("Running")
    values = list(range(0, 101, 3))
    barrier = threading.Barrier(4)

    def writer(offset: int) -> None:
        barrier.wait()
        for v in values[offset::4]:
            jobs.update_progress(job.job_id, v)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the highest value written by anyone survives; lower late writes were refused
    assert jobs.get_job(job.job_id).progress == max(values)
    assert jobs.update_progress(job.job_id, 10) is False
    assert jobs.get_job(job.job_id).progress == max(values)


def test_progress_applies_only_while_running() -> None:
    job = make_job()
    assert jobs.update_progress(job.job_id, 50) is False
    assert jobs.heartbeat(job.job_id) is False
    jobs.transition(job.job_id, "Running")
    assert jobs.update_progress(job.job_id, 50) is True
    assert jobs.heartbeat(job.job_id) is True
    jobs.transition(job.job_id, "Cancelled")
    assert jobs.update_progress(job.job_id, 60) is False
    assert jobs.get_job(job.job_id).progress == 50


def test_progress_is_clamped() -> None:
    job = job_in("Running")
    assert jobs.update_progress(job.job_id, 250) is True
    assert jobs.get_job(job.job_id).progress == 100


def test_concurrent_creates_lose_no_counter_update() -> None:
    barrier = threading.Barrier(6)

    def create(i: int) -> None:
        barrier.wait()
        for _ in range(3):
            make_job(user=f"user{i % 2}")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jobs.get_stats("global")["by_status"]["Submitted"] == 18
    assert jobs.get_stats(jobs.user_scope("user0"))["total"] == 9


def collect(user: str, status: str | None, limit: int) -> tuple[list[str], int]:
    token, names, pages = None, [], 0
    while True:
        page = jobs.list_user_jobs(user, status=status, limit=limit, next_token=token)
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
    token = jobs.list_user_jobs("alice", limit=1).next_token
    assert token
    body, sig = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{flipped}.{sig}", f"{body}.{sig[::-1]}", "garbage", token + "x", "a.b.c"):
        with pytest.raises(InvalidToken):
            jobs.list_user_jobs("alice", limit=1, next_token=bad)
    with pytest.raises(InvalidToken):  # replayed against another user
        jobs.list_user_jobs("bob", limit=1, next_token=token)
    with pytest.raises(InvalidToken):  # replayed against another filter
        jobs.list_user_jobs("alice", status="Running", limit=1, next_token=token)
    assert [j.job_name for j in jobs.list_user_jobs("alice", limit=1, next_token=token).items] == ["a1"]


def test_events_are_ordered_and_paginated(fake_clock: FakeClock) -> None:
    job = make_job()
    for i in range(5):
        jobs.append_event(job.job_id, f"step {i}")  # same millisecond: order still kept
    fake_clock.advance(seconds=1)
    jobs.transition(job.job_id, "Running")
    messages, token = [], None
    while True:
        page = jobs.list_events(job.job_id, limit=2, next_token=token)
        messages += [e.message for e in page.items]
        token = page.next_token
        if not token:
            break
    assert messages == ["Job submitted (api)"] + [f"step {i}" for i in range(5)] + ["Status Submitted -> Running"]


def test_jobs_by_status_reads_only_due_jobs(fake_clock: FakeClock) -> None:
    old = [make_job(name=f"old{i}") for i in range(3)]
    fake_clock.advance(days=3)
    make_job(name="new")
    due, last = jobs.jobs_by_status("Submitted", changed_before=jobs.clock.iso_before(jobs.timedelta(days=2)))
    assert sorted(j.job_id for j in due) == sorted(j.job_id for j in old)
    fake_clock.advance(seconds=1)
    first, last = jobs.jobs_by_status("Submitted", changed_before=jobs.clock.now_iso(), limit=2)
    assert len(first) == 2 and last is not None
    rest, last = jobs.jobs_by_status("Submitted", changed_before=jobs.clock.now_iso(), limit=2, last_key=last)
    assert len(rest) == 2


def test_delete_job_removes_record_events_and_counts() -> None:
    job = job_in("Completed")
    jobs.delete_job(jobs.get_job(job.job_id))
    with pytest.raises(NotFound):
        jobs.get_job(job.job_id)
    assert jobs.list_events(job.job_id).items == []
    assert jobs.get_stats("global")["total"] == 0


def test_delete_running_job_is_refused() -> None:
    job = job_in("Running")
    with pytest.raises(InvalidTransition):
        jobs.delete_job(job)
    assert jobs.get_job(job.job_id).status == "Running"
    assert len(jobs.list_events(job.job_id).items) == 2


def test_stats_from_counters(fake_clock: FakeClock) -> None:
    a = job_in("Running", "alice")
    fake_clock.advance(seconds=30)
    jobs.transition(a.job_id, "Completed")
    b = job_in("Running", "alice")
    jobs.transition(b.job_id, "Error", error="boom")
    job_in("Submitted", "bob")
    alice = jobs.get_stats(jobs.user_scope("alice"))
    assert alice["total"] == 2
    assert alice["by_status"]["Completed"] == 1 and alice["by_status"]["Error"] == 1
    assert alice["success_rate"] == 0.5
    assert alice["avg_duration_seconds"] == 30.0
    assert alice["top_models"] == [{"model_name": "resfinder", "count": 2}]
    assert jobs.get_stats("global")["total"] == 3
    assert jobs.get_job(b.job_id).error == "boom"


def test_ttl_follows_policy(fake_clock: FakeClock) -> None:
    job = make_job()
    stored = jobs.get_job(job.job_id)
    # Submitted retention 2 days + 7 days grace
    assert (stored.expires_at - fake_clock()).days == 9

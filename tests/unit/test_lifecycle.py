"""The job state machine on moto (`jobs.lifecycle`): creation, transitions and races,
progress, deletion, and the counts and expiry each write keeps."""
from __future__ import annotations

import threading
from itertools import product

import pytest

from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import Conflict, InvalidTransition, NotFound
from chalicelib.core.tables import STATUSES
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from tests.lifecycle import job_in, make_job

pytestmark = pytest.mark.usefixtures("aws_env")

LEGAL = {
    ("Submitted", "Running"),
    ("Submitted", "Cancelled"),
    ("Running", "Completed"),
    ("Running", "Error"),
    ("Running", "Cancelled"),
    ("Completed", "Archived"),
}


def test_create_and_get_round_trip(fake_clock: FakeClock) -> None:
    job = make_job()
    got = queries.get_job(job.job_id)
    assert got.status == "Submitted" and got.progress == 0
    assert got.created_at == "2026-11-24T12:00:00.000Z" == got.status_changed_at
    assert got.params.as_dict() == {"segment_length": 1000}
    assert got.user_status == "u1#Submitted"


def test_create_with_existing_id_is_conflict() -> None:
    job = make_job()
    with pytest.raises(Conflict):
        jobs.create_job(user_id="u1", job_name="again", params={}, job_id=job.job_id)
    assert queries.get_stats("global")["total"] == 1


@pytest.mark.parametrize("src,dst", list(product(STATUSES, STATUSES)))
def test_every_transition_obeys_the_table(src: str, dst: str, fake_clock: FakeClock) -> None:
    job = job_in(src)
    fake_clock.advance(seconds=5)
    before = queries.get_job(job.job_id)
    if (src, dst) in LEGAL:
        moved = jobs.transition(job.job_id, dst)
        stored = queries.get_job(job.job_id)
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
        after = queries.get_job(job.job_id)
        assert after.serialize() == before.serialize()


def test_stale_read_cannot_transition(fake_clock: FakeClock) -> None:
    job = make_job()
    stale = queries.get_job(job.job_id)
    jobs.transition(job.job_id, "Cancelled")
    with pytest.raises(InvalidTransition):
        jobs.transition(stale, "Running")  # stale copy still says Submitted
    assert queries.get_job(job.job_id).status == "Cancelled"
    stats = queries.get_stats("global")["by_status"]
    assert stats["Cancelled"] == 1 and stats["Running"] == 0 and stats["Submitted"] == 0


def test_racing_transitions_exactly_one_wins() -> None:
    job = make_job()
    targets = ["Running", "Cancelled"] * 4
    results: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(targets))

    def attempt(dst: str) -> None:
        snapshot = queries.get_job(job.job_id)
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
    final = queries.get_job(job.job_id).status
    assert winners[0] == f"won:{final}"
    stats = queries.get_stats("global")
    assert stats["total"] == 1 and stats["by_status"][final] == 1
    events = queries.list_events(job.job_id).items
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
    assert queries.get_job(job.job_id).progress == max(values)
    assert jobs.update_progress(job.job_id, 10) is False
    assert queries.get_job(job.job_id).progress == max(values)


def test_progress_applies_only_while_running() -> None:
    job = make_job()
    assert jobs.update_progress(job.job_id, 50) is False
    assert jobs.heartbeat(job.job_id) is False
    jobs.transition(job.job_id, "Running")
    assert jobs.update_progress(job.job_id, 50) is True
    assert jobs.heartbeat(job.job_id) is True
    jobs.transition(job.job_id, "Cancelled")
    assert jobs.update_progress(job.job_id, 60) is False
    assert queries.get_job(job.job_id).progress == 50


def test_progress_is_clamped() -> None:
    job = job_in("Running")
    assert jobs.update_progress(job.job_id, 250) is True
    assert queries.get_job(job.job_id).progress == 100


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
    assert queries.get_stats("global")["by_status"]["Submitted"] == 18
    assert queries.get_stats(queries.user_scope("user0"))["total"] == 9


def test_delete_job_removes_record_events_and_counts() -> None:
    job = job_in("Completed")
    jobs.delete_job(queries.get_job(job.job_id))
    with pytest.raises(NotFound):
        queries.get_job(job.job_id)
    assert queries.list_events(job.job_id).items == []
    assert queries.get_stats("global")["total"] == 0


def test_delete_running_job_is_refused() -> None:
    job = job_in("Running")
    with pytest.raises(InvalidTransition):
        jobs.delete_job(job)
    assert queries.get_job(job.job_id).status == "Running"
    assert len(queries.list_events(job.job_id).items) == 2


def test_ttl_follows_policy(fake_clock: FakeClock) -> None:
    job = make_job()
    stored = queries.get_job(job.job_id)
    # Submitted retention 2 days + 7 days grace
    assert (stored.expires_at - fake_clock()).days == 9

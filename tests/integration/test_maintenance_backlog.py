"""Maintenance keeps up with any backlog (design §23): a scheduled tick continues until nothing
is due, handing over to a new invocation when its time runs short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.core import clock
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from chalicelib.jobs import policy
from chalicelib.maintenance import tasks as maintenance
from tests.integration.test_maintenance import exists, make_job

SMALL_RUNS = "cleanup: {max_jobs_per_run: 4}"


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AMR_LIFECYCLE_POLICY", SMALL_RUNS)
    policy.get_policy.cache_clear()
    yield
    monkeypatch.delenv("AMR_LIFECYCLE_POLICY")
    policy.get_policy.cache_clear()


def _tick(client: Any, name: str) -> dict[str, Any]:
    event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
    return dict(client.lambda_.invoke(name, event).payload)


def test_one_scheduled_purge_clears_more_than_max_jobs_per_run(
    client: Any, small_runs: None, fake_clock: clock.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Today: the tick stops at max_jobs_per_run (4) and 7 of the 11 due jobs wait a day each."""
    monkeypatch.setattr(maintenance, "HANDOVER_RESERVE_MS", 1)  # the test client's context is short
    due = [make_job("Error", with_objects=False) for _ in range(11)]
    fake_clock.advance(days=15)
    fresh = make_job("Error", with_objects=False)

    report = _tick(client, "maintenance_purge")

    assert sorted(report["purged"]) == sorted(j.job_id for j in due)
    assert report["more_due"] == [] and report["passes"] >= 3 and not report["handed_over"]
    assert not any(exists(j.job_id) for j in due) and exists(fresh.job_id)


def test_a_tick_short_of_time_hands_over_and_the_continuation_finishes(
    client: Any, small_runs: None, fake_clock: clock.FakeClock, run_async: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = [make_job("Completed", with_objects=True) for _ in range(9)]
    fake_clock.advance(days=8)
    monkeypatch.setattr(maintenance, "HANDOVER_RESERVE_MS", 10**12)  # every invocation is short of time

    first = _tick(client, "maintenance_archive")
    assert len(first["archived"]) == 4 and first["handed_over"] and first["passes"] == 1

    chain = run_async()  # the continuation invokes itself again until nothing is due
    archived = set(first["archived"]) | {j for _, r in chain for j in r["archived"]}
    assert archived == {j.job_id for j in due}
    assert [r["generation"] for _, r in chain] == [1, 2]
    assert all(queries.get_job(j.job_id).status == jobs.ARCHIVED for j in due)


def test_a_pass_that_changes_nothing_ends_the_chain(
    client: Any, small_runs: None, fake_clock: clock.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance, "HANDOVER_RESERVE_MS", 1)
    for _ in range(6):
        make_job("Error", with_objects=False)
    fake_clock.advance(days=15)

    def broken(job: Any) -> None:
        raise RuntimeError("storage is down")

    monkeypatch.setattr(maintenance, "purge_job", broken)
    report = _tick(client, "maintenance_purge")
    assert report["passes"] == 1 and len(report["failed"]) == 4 and report["more_due"] == ["purge"]


def test_stalled_check_needs_no_continuation_when_nothing_is_due(client: Any, fake_clock: clock.FakeClock) -> None:
    job = make_job("Running", with_objects=False)
    fake_clock.advance(minutes=25)
    report = _tick(client, "maintenance_stalled")
    assert report["stalled"] == [job.job_id] and report["passes"] == 1

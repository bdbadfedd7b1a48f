"""Scheduled maintenance on moto with the injected clock: stalled recovery, purge by
retention and archiving at their boundaries, dry runs, the per-run bound, interrupted
runs, the admin routes, and the cost of a run over a 10,000-job table."""
from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import timedelta
from typing import Any, Iterator

import pytest

from chalicelib.core import aws, clock, tables as models
from chalicelib.jobs import lifecycle as jobs, policy, queries, s3layout
from chalicelib.maintenance import schedules, tasks as maintenance
from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.tables import JobEventModel, JobModel
from chalicelib.core.settings import get_settings
from tests.lifecycle import PATHS

pytestmark = pytest.mark.usefixtures("aws_env")

Headers = dict[str, str]
DAY = timedelta(days=1)
RESULT_FILES = ("predictions.json", "predictions.tsv", "hamronization.tsv")
RETENTION = {"Submitted": 2, "Running": 7, "Completed": 30, "Error": 14, "Archived": 90, "Cancelled": 14}


# --- helpers --------------------------------------------------------------------


def settings() -> Any:
    return get_settings()


def s3() -> Any:
    return aws.client("s3")


def keys(bucket: str, prefix: str = "") -> list[str]:
    listed = s3().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def predictions(job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "database": {"name": "resfinder", "version": "2.4.0"},
        "genes": [{"gene": "blaKPC-2", "contig": "c1", "start": 1, "end": 882}],
        "resistance": {"Beta-lactam": ["Imipenem"]},
        "stats": {"contigs": 1, "bases": 5000, "segments": 1, "seconds": 0.1},
    }


def write_results(job: JobModel) -> list[str]:
    written = []
    for name in RESULT_FILES:
        key = s3layout.result_key(job.user_id, job.job_id, name)
        body = json.dumps(predictions(job.job_id)) if name.endswith(".json") else f"{name}\tcontent\n"
        s3layout.put_object(settings().results_bucket, key, body.encode(), "text/plain")
        written.append(key)
    return written


def make_job(status: str, user: str = "u1", *, with_objects: bool = True) -> JobModel:
    """A job brought to `status` through legal moves at the current (fake) time, with
    its input uploaded and, once Completed, its result files written."""
    job_id = jobs.new_job_id()
    key = s3layout.upload_key(user, job_id, "genome.fasta")
    job = jobs.create_job(
        user_id=user, job_name=f"{status.lower()}-job", params={}, job_id=job_id,
        input_key=key, input_filename="genome.fasta",
    )
    if with_objects and status != "Submitted":
        s3layout.put_object(settings().upload_bucket, key, b">c1\nACGT\n" * 100, "text/plain")
    for step in PATHS[status]:
        fields: dict[str, Any] = {}
        if step == "Completed":
            fields["result_keys"] = write_results(job) if with_objects else []
        if step == "Archived":
            fields["archive_keys"] = []
        job = jobs.transition(job, step, **fields)
    return job


def exists(job_id: str) -> bool:
    return JobModel.count(job_id) > 0


def events_of(job_id: str) -> list[JobEventModel]:
    return list(JobEventModel.query(job_id))


def objects_of(job: JobModel) -> list[str]:
    return [k for bucket, prefix in s3layout.job_prefixes(job.user_id, job.job_id) for k in keys(bucket, prefix)]


def fresh_headers(user_id: str) -> Headers:
    from chalicelib.accounts import auth, users

    user = users.get_user(user_id)
    assert user is not None
    return {"Authorization": f"Bearer {auth.issue_token(user)}", "Content-Type": "application/json"}


def custom_policy(**cleanup: Any) -> policy.Policy:
    return policy.parse_policy({"cleanup": cleanup} if cleanup else None)


def run(*tasks: str, dry_run: bool = False, current: policy.Policy | None = None) -> maintenance.MaintenanceReport:
    return maintenance.run(list(tasks) or None, dry_run=dry_run, current=current)  # type: ignore[arg-type]


def fail_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, job_id: str | None = None) -> list[str]:
    """Make `module.name` raise StorageUnavailable once (for `job_id`, if given)."""
    real = getattr(module, name)
    failed: list[str] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        target = args[0] if args else None
        target_id = getattr(target, "job_id", None) or (args[1] if len(args) > 1 else target)
        if not failed and (job_id is None or target_id == job_id):
            failed.append(str(target_id))
            raise StorageUnavailable("Storage is temporarily unavailable (injected); please retry shortly.")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, flaky)
    return failed


# --- schedules -------------------------------------------------------------------


def test_schedules_run_at_the_policy_rates() -> None:
    from app import app

    rates = {s.name: s.schedule_expression.to_string() for s in app.event_sources if hasattr(s, "schedule_expression")}
    assert rates == {
        "maintenance_stalled": "rate(5 minutes)",
        "maintenance_purge": "rate(1 day)",
        "maintenance_archive": "rate(1 day)",
    }


@pytest.mark.parametrize(
    "stalled_minutes,hours,expect_stalled,expect_cleanup",
    [(20, 24, 5, 1440), (8, 6, 2, 360), (2, 0.5, 1, 30), (600, 168, 5, 10080)],
)
def test_rates_follow_the_policy(
    stalled_minutes: float, hours: float, expect_stalled: int, expect_cleanup: int
) -> None:
    override = {"stalled_running_minutes": stalled_minutes, "cleanup": {"run_frequency_hours": hours}}
    current = policy.parse_policy(override)
    assert schedules.stalled_rate_minutes(current) == expect_stalled
    assert schedules.cleanup_rate_minutes(current) == expect_cleanup


def test_scheduled_handler_runs_its_task(client: Any, fake_clock: FakeClock) -> None:
    job = make_job("Running")
    fake_clock.advance(minutes=21)
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    report = client.lambda_.invoke("maintenance_stalled", event).payload
    assert report["tasks"] == ["stalled"] and report["stalled"] == [job.job_id]
    assert queries.get_job(job.job_id).status == "Error"


# --- stalled --------------------------------------------------------------------


def test_stalled_boundary_and_message(fake_clock: FakeClock) -> None:
    job = make_job("Running")
    fake_clock.advance(minutes=20)  # exactly at the threshold: not yet stalled
    report = run("stalled")
    assert report.stalled == [] and queries.get_job(job.job_id).status == "Running"
    fake_clock.advance(seconds=1)
    report = run("stalled")
    assert report.stalled == [job.job_id]
    stored = queries.get_job(job.job_id)
    assert stored.status == "Error" and stored.error == "worker stopped responding"
    assert any("worker stopped responding" in e.message and e.level == "ERROR" for e in events_of(job.job_id))
    assert queries.get_stats("global")["by_status"]["Running"] == 0


def test_long_job_with_recent_heartbeat_is_not_stalled(fake_clock: FakeClock) -> None:
    job = make_job("Running")
    for _ in range(6):  # a heartbeat every 10 minutes for an hour
        fake_clock.advance(minutes=10)
        assert jobs.update_progress(job.job_id, 10)
    fake_clock.advance(minutes=19, seconds=59)
    report = run("stalled")
    assert report.stalled == [] and queries.get_job(job.job_id).status == "Running"
    assert [(s.job_id, s.task) for s in report.skipped] == [(job.job_id, "stalled")]
    fake_clock.advance(seconds=2)
    assert run("stalled").stalled == [job.job_id]


def test_stalled_job_that_finished_meanwhile_is_reported_not_broken(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job("Running")
    fake_clock.advance(minutes=25)
    real = maintenance.queries.jobs_by_status

    def finished_after_query(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        jobs.transition(job.job_id, jobs.COMPLETED)  # the worker wins the race
        return found

    monkeypatch.setattr(maintenance.queries, "jobs_by_status", finished_after_query)
    report = run("stalled")
    assert report.stalled == [] and [f.job_id for f in report.failed] == [job.job_id]
    assert queries.get_job(job.job_id).status == "Completed"


# --- purge ----------------------------------------------------------------------


@pytest.mark.parametrize("status", ["Submitted", "Cancelled", "Error", "Completed", "Archived"])
def test_purge_boundary_per_status(status: str, fake_clock: FakeClock) -> None:
    job = make_job(status)
    other = make_job(status, user="u2")
    fake_clock.advance(seconds=1)
    younger = make_job(status, user="u3")
    assert events_of(job.job_id)
    fake_clock.advance(days=RETENTION[status], seconds=-1)  # `job` is exactly at its retention
    report = run("purge")
    assert report.purged == [] and exists(job.job_id)
    fake_clock.advance(seconds=1)  # `job` and `other` a second past it, `younger` exactly at it
    report = run("purge")
    assert sorted(report.purged) == sorted([job.job_id, other.job_id]) and not report.failed
    for gone in (job, other):
        assert not exists(gone.job_id) and events_of(gone.job_id) == [] and objects_of(gone) == []
    assert exists(younger.job_id)
    assert queries.get_stats("global")["by_status"][status] == 1


def test_submitted_without_upload_is_purged_with_a_late_upload(fake_clock: FakeClock) -> None:
    job = make_job("Submitted", with_objects=False)
    fake_clock.advance(days=2, seconds=1)
    late = s3layout.upload_key("u1", job.job_id, "genome.fasta")  # arrived after everything ended
    s3layout.put_object(settings().upload_bucket, late, b">x\nA\n", "text/plain")
    assert run("purge").purged == [job.job_id]
    assert not exists(job.job_id) and keys(settings().upload_bucket) == []


def test_running_past_retention_is_purged_only_when_stalled(fake_clock: FakeClock) -> None:
    alive = make_job("Running")
    dead = make_job("Running")
    fake_clock.advance(days=7, seconds=1)
    assert jobs.heartbeat(alive.job_id)
    report = run("purge")
    assert report.purged == [dead.job_id]
    assert [(s.job_id, s.task) for s in report.skipped] == [(alive.job_id, "purge")]
    assert exists(alive.job_id) and not exists(dead.job_id)


def test_purge_deletes_an_owned_inbox_input_but_not_a_newer_drop(fake_clock: FakeClock) -> None:
    bucket = settings().upload_bucket
    mine = jobs.create_job(user_id="u1", job_name="a", params={}, input_key="inbox/alice/a.fasta", source="inbox")
    jobs.transition(mine, jobs.CANCELLED)
    s3layout.put_object(bucket, "inbox/alice/a.fasta", b">a\nA\n", "text/plain", Tagging=f"amr-job-id={mine.job_id}")
    theirs = jobs.create_job(user_id="u1", job_name="b", params={}, input_key="inbox/alice/b.fasta", source="inbox")
    jobs.transition(theirs, jobs.CANCELLED)
    s3layout.put_object(bucket, "inbox/alice/b.fasta", b">b\nA\n", "text/plain", Tagging="amr-job-id=someone-else")
    fake_clock.advance(days=15)
    assert sorted(run("purge").purged) == sorted([mine.job_id, theirs.job_id])
    assert keys(bucket, "inbox/") == ["inbox/alice/b.fasta"]


def test_per_run_bound_and_continuation(fake_clock: FakeClock) -> None:
    submitted = []
    for _ in range(4):
        submitted.append(make_job("Submitted").job_id)
        fake_clock.advance(seconds=1)
    errors = [make_job("Error").job_id for _ in range(3)]
    fake_clock.advance(days=30)
    bounded = custom_policy(max_jobs_per_run=3)
    first = run("purge", current=bounded)
    assert first.purged == submitted[:3] and first.more_due == ["purge"]  # oldest first
    second = run("purge", current=bounded)
    assert second.purged[0] == submitted[3] and len(second.purged) == 3 and second.more_due == ["purge"]
    third = run("purge", current=bounded)
    assert len(third.purged) == 1 and third.more_due == []
    assert set(first.purged + second.purged + third.purged) == set(submitted + errors)
    assert queries.get_stats("global")["total"] == 0


def test_interrupted_purge_is_finished_by_the_next_run(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    victims = [make_job("Error") for _ in range(3)]
    fake_clock.advance(days=15)
    failed = fail_once(monkeypatch, maintenance.lifecycle, "delete_job_record", victims[1].job_id)
    report = run("purge")
    assert failed == [victims[1].job_id]
    assert [f.job_id for f in report.failed] == [victims[1].job_id] and report.failed[0].task == "purge"
    assert sorted(report.purged) == sorted([victims[0].job_id, victims[2].job_id])  # the run went on
    half = victims[1]
    assert exists(half.job_id) and objects_of(half) == [] and events_of(half.job_id) == []
    again = run("purge")
    assert again.purged == [half.job_id] and not again.failed
    assert queries.get_stats("global")["total"] == 0


def test_purge_interrupted_in_s3_keeps_the_record(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    job = make_job("Completed")
    fake_clock.advance(days=31)
    fail_once(monkeypatch, maintenance.s3layout, "delete_job_objects")
    assert run("purge").failed[0].job_id == job.job_id
    assert exists(job.job_id) and events_of(job.job_id) and objects_of(job)  # nothing half-deleted in DynamoDB
    assert run("purge").purged == [job.job_id]
    assert not exists(job.job_id) and objects_of(job) == []


def test_a_failing_query_does_not_abort_the_run(fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled = make_job("Cancelled")
    stale = make_job("Submitted")
    fake_clock.advance(days=15)
    real = maintenance.queries.jobs_by_status

    def broken_for_submitted(status: str, **kwargs: Any) -> Any:
        if status == "Submitted":
            raise StorageUnavailable("Storage is temporarily unavailable (injected)")
        return real(status, **kwargs)

    monkeypatch.setattr(maintenance.queries, "jobs_by_status", broken_for_submitted)
    report = run("purge")
    assert report.purged == [cancelled.job_id] and exists(stale.job_id)
    assert [(f.task, f.job_id) for f in report.failed] == [("purge", None)]


def test_purge_disabled_by_policy(fake_clock: FakeClock) -> None:
    job = make_job("Cancelled")
    fake_clock.advance(days=30)
    report = run("purge", current=custom_policy(enabled=False))
    assert report.disabled == ["purge"] and report.tasks == [] and exists(job.job_id)


# --- archive --------------------------------------------------------------------


def test_archive_boundary_contents_and_storage_class(fake_clock: FakeClock) -> None:
    job = make_job("Completed")
    originals = {k: s3layout.get_object_bytes(settings().results_bucket, k) for k in keys(settings().results_bucket)}
    upload = s3layout.get_object_bytes(settings().upload_bucket, job.input_key)
    fake_clock.advance(days=7)
    assert run("archive").archived == [] and queries.get_job(job.job_id).status == "Completed"
    fake_clock.advance(seconds=1)
    report = run("archive")
    assert report.archived == [job.job_id] and not report.failed
    stored = queries.get_job(job.job_id)
    prefix = s3layout.archive_prefix(job.user_id, job.job_id)
    assert stored.status == "Archived"
    assert sorted(stored.archive_keys) == sorted(prefix + n + ".gz" for n in RESULT_FILES)
    archive = settings().archive_bucket
    assert keys(archive) == sorted([*stored.archive_keys, prefix + "genome.fasta.gz"])
    for key, body in originals.items():
        dest = prefix + key.rsplit("/", 1)[1] + ".gz"
        assert gzip.decompress(s3layout.get_object_bytes(archive, dest)) == body
        assert s3().head_object(Bucket=archive, Key=dest)["StorageClass"] == "GLACIER_IR"
    assert gzip.decompress(s3layout.get_object_bytes(archive, prefix + "genome.fasta.gz")) == upload
    assert keys(settings().results_bucket) == [] and keys(settings().upload_bucket) == []
    assert queries.get_stats("global")["by_status"]["Archived"] == 1
    assert run("archive").archived == []  # nothing left to do


def test_archived_results_stay_readable_through_the_api(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    user_id, _ = make_user()
    job = make_job("Completed", user=user_id)
    fake_clock.advance(days=8)
    headers = fresh_headers(user_id)  # tokens live an hour
    assert run("archive").archived == [job.job_id]
    response = client.http.get(f"/jobs/{job.job_id}/results", headers=headers)
    assert response.status_code == 200, response.body
    body = json.loads(response.body)
    assert body["genes"] == predictions(job.job_id)["genes"]
    assert set(body["download_urls"]) == {n + ".gz" for n in RESULT_FILES}


def test_interrupted_archive_keeps_the_job_completed_and_readable(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = make_job("Completed")
    fake_clock.advance(days=8)
    fail_once(monkeypatch, maintenance.lifecycle, "transition")
    report = run("archive")
    assert report.archived == [] and report.failed[0].job_id == job.job_id
    assert queries.get_job(job.job_id).status == "Completed"
    assert len(keys(settings().results_bucket)) == 3 and keys(settings().upload_bucket)  # originals kept
    report = run("archive")
    assert report.archived == [job.job_id] and queries.get_job(job.job_id).status == "Archived"
    assert keys(settings().results_bucket) == []


def test_archive_without_compression_and_disabled(fake_clock: FakeClock) -> None:
    job = make_job("Completed")
    fake_clock.advance(days=8)
    off = policy.parse_policy({"archiving": {"enabled": False}})
    assert run("archive", current=off).disabled == ["archive"] and queries.get_job(job.job_id).status == "Completed"
    plain = policy.parse_policy({"archiving": {"compress_results": False, "storage_class": "STANDARD_IA"}})
    assert run("archive", current=plain).archived == [job.job_id]
    key = s3layout.archive_prefix(job.user_id, job.job_id) + "predictions.json"
    assert json.loads(s3layout.get_object_bytes(settings().archive_bucket, key)) == predictions(job.job_id)


def test_completed_job_without_results_is_reported_failed(fake_clock: FakeClock) -> None:
    job = make_job("Completed", with_objects=False)
    fake_clock.advance(days=8)
    report = run("archive")
    assert report.archived == [] and report.failed[0].job_id == job.job_id
    assert "No result files" in report.failed[0].error and queries.get_job(job.job_id).status == "Completed"


# --- dry run and the whole run ------------------------------------------------------


def test_dry_run_changes_nothing_and_predicts_the_real_run(fake_clock: FakeClock) -> None:
    running = make_job("Running")
    completed = make_job("Completed")
    cancelled = make_job("Cancelled")
    fake_clock.advance(days=15)
    before = {j.job_id: queries.get_job(j.job_id).status for j in (running, completed, cancelled)}
    objects = {b: keys(b) for b in (settings().upload_bucket, settings().results_bucket, settings().archive_bucket)}
    n_events = {j: len(events_of(j)) for j in before}
    dry = run(dry_run=True)
    assert dry.dry_run and dry.tasks == ["stalled", "purge", "archive"]
    assert (dry.stalled, dry.purged, dry.archived) == ([running.job_id], [cancelled.job_id], [completed.job_id])
    assert {j: queries.get_job(j).status for j in before} == before
    assert {b: keys(b) for b in objects} == objects
    assert {j: len(events_of(j)) for j in before} == n_events
    real = run()
    assert (real.stalled, real.purged, real.archived) == (dry.stalled, dry.purged, dry.archived)
    assert queries.get_job(running.job_id).status == "Error" and not exists(cancelled.job_id)


# --- DELETE /jobs/cleanup --------------------------------------------------------------


def test_cleanup_deletes_terminal_jobs_older_than_n_days(fake_clock: FakeClock) -> None:
    old = {s: make_job(s) for s in ("Completed", "Error", "Archived", "Cancelled", "Submitted", "Running")}
    fake_clock.advance(days=3, seconds=1)
    young = make_job("Error")
    fake_clock.advance(days=1)
    report = maintenance.cleanup(3)
    expected = {old[s].job_id for s in ("Completed", "Error", "Archived", "Cancelled")}
    assert set(report.deleted) == expected and report.count == 4 and not report.more_due
    assert all(not exists(j) for j in expected)
    assert exists(young.job_id) and exists(old["Submitted"].job_id) and exists(old["Running"].job_id)
    assert objects_of(old["Completed"]) == []


# --- admin routes ------------------------------------------------------------------------


def call(client: Any, method: str, path: str, headers: Headers, body: Any = None) -> Any:
    raw = body if isinstance(body, (bytes, str)) else (json.dumps(body).encode() if body is not None else b"")
    return client.http.request(method, path, headers=headers, body=raw)


def test_admin_routes_are_admin_only(client: Any, make_user: Any) -> None:
    _, user = make_user()
    for method, path, body in (("POST", "/admin/maintenance", {}), ("DELETE", "/jobs/cleanup?days=1", None)):
        response = call(client, method, path, user, body)
        assert response.status_code == 403, (path, response.body)
        assert json.loads(response.body)["error"]["code"] == "forbidden"
        assert call(client, method, path, {}, body).status_code == 401


BAD_BODIES = [
    {"tasks": ["archive", "vacuum"]},
    {"tasks": []},
    {"tasks": ["purge", "purge"]},
    {"tasks": "purge"},
    {"tasks": None, "dry_run": None},
    {"dry_run": "yes"},
    {"dry_run": 1},
    {"force": True},
    [],
    "not json",
]


def test_maintenance_rejects_bad_bodies(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    job = make_job("Cancelled")
    fake_clock.advance(days=15)
    _, admin = make_user(role="admin")
    for body in BAD_BODIES:
        response = call(client, "POST", "/admin/maintenance", admin, body)
        assert response.status_code == 400, (body, response.body)
        assert json.loads(response.body)["error"]["code"] in ("validation_error", "bad_request")
    assert exists(job.job_id)  # nothing ran
    unsupported = {**admin, "Content-Type": "text/plain"}
    assert call(client, "POST", "/admin/maintenance", unsupported, "{}").status_code == 415


def test_maintenance_route_queues_a_run_that_the_function_executes(
    client: Any, make_user: Any, fake_clock: FakeClock, run_async: Any
) -> None:
    job = make_job("Cancelled")
    fake_clock.advance(days=15)
    _, admin = make_user("root", role="admin")
    response = call(client, "POST", "/admin/maintenance", admin, {"tasks": ["purge", "stalled"], "dry_run": True})
    assert response.status_code == 202, response.body
    accepted = json.loads(response.body)
    run_id = accepted["run_id"]
    assert accepted == {"run_id": run_id, "status": "queued", "location": f"/admin/maintenance/{run_id}"}
    assert response.headers["Location"] == accepted["location"]
    queued = json.loads(call(client, "GET", accepted["location"], admin).body)
    assert queued["status"] == "queued" and queued["report"] is None and queued["requested_by"] == "root"
    assert queued["tasks"] == ["stalled", "purge"] and queued["dry_run"] is True

    assert run_async() == [("maintenance_run", {"run_id": run_id, "status": "finished"})]
    body = json.loads(call(client, "GET", accepted["location"], admin).body)
    assert body["status"] == "finished" and body["started_at"] and body["finished_at"] and body["error"] is None
    report = body["report"]
    assert set(report) == set(maintenance.MaintenanceReport.model_fields)
    assert report["tasks"] == ["stalled", "purge"] and report["purged"] == [job.job_id] and report["dry_run"] is True
    assert exists(job.job_id)

    run_id = json.loads(call(client, "POST", "/admin/maintenance", admin, {}).body)["run_id"]
    assert exists(job.job_id), "nothing runs inside the request"
    run_async()
    report = json.loads(call(client, "GET", f"/admin/maintenance/{run_id}", admin).body)["report"]
    assert report["purged"] == [job.job_id] and report["tasks"] == ["stalled", "purge", "archive"]
    assert not exists(job.job_id)


def test_a_maintenance_run_executes_once_and_bad_events_change_nothing(
    client: Any, make_user: Any, fake_clock: FakeClock
) -> None:
    from chalicelib.maintenance import runs

    _, admin = make_user(role="admin")
    run_id = json.loads(call(client, "POST", "/admin/maintenance", admin, {"tasks": ["stalled"]}).body)["run_id"]
    assert runs.execute({"run_id": run_id})["status"] == "finished"
    assert runs.execute({"run_id": run_id})["status"] == "ignored"  # a duplicated delivery
    for event in (None, {}, {"run_id": "x"}, {"run_id": "00000000-0000-4000-8000-000000000000"}, [run_id]):
        assert runs.execute(event)["status"] == "ignored"
    record = runs.get_run(run_id)
    assert record.status == "finished"


def test_a_killed_run_is_claimed_again_by_its_retry_only_when_stale(
    client: Any, make_user: Any, fake_clock: FakeClock
) -> None:
    from chalicelib.maintenance import runs

    _, admin = make_user(role="admin")
    run_id = json.loads(call(client, "POST", "/admin/maintenance", admin, {"tasks": ["stalled"]}).body)["run_id"]
    record = runs.get_run(run_id)
    assert runs._claim(record)  # the first invocation, then killed by Lambda's limit
    assert runs.execute({"run_id": run_id})["status"] == "ignored"  # still fresh: someone runs it
    fake_clock.advance(minutes=17)
    assert runs.execute({"run_id": run_id})["status"] == "finished"


def test_a_run_that_crashes_is_recorded_as_failed(
    client: Any, make_user: Any, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.maintenance import runs

    _, admin = make_user(role="admin")
    run_id = json.loads(call(client, "POST", "/admin/maintenance", admin, {}).body)["run_id"]

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(maintenance, "run", broken)
    assert runs.execute({"run_id": run_id})["status"] == "failed"
    body = json.loads(call(client, "GET", f"/admin/maintenance/{run_id}", admin).body)
    assert body["status"] == "failed" and body["report"] is None
    assert body["error"] == "unexpected RuntimeError (logged)" and "disk on fire" not in body["error"]


def test_a_run_that_cannot_be_handed_over_is_failed_and_answered_503(
    client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.core.errors import StorageUnavailable
    from chalicelib.core.tables import MaintenanceRunModel
    from chalicelib.maintenance import runs

    _, admin = make_user(role="admin")

    def unavailable(*_: Any) -> None:
        raise StorageUnavailable("Storage is temporarily unavailable (invoke_async); please retry shortly.")

    monkeypatch.setattr(runs, "invoke_async", unavailable)
    response = call(client, "POST", "/admin/maintenance", admin, {})
    assert response.status_code == 503 and json.loads(response.body)["error"]["code"] == "storage_unavailable"
    (record,) = list(MaintenanceRunModel.scan())  # the test looks at the whole table; the service never scans
    assert record.status == "failed" and "invoke_async" in record.error


def test_maintenance_run_lookup_errors(client: Any, make_user: Any) -> None:
    _, admin = make_user(role="admin")
    _, user = make_user()
    run_id = json.loads(call(client, "POST", "/admin/maintenance", admin, {}).body)["run_id"]
    assert call(client, "GET", f"/admin/maintenance/{run_id}", user).status_code == 403
    assert call(client, "GET", f"/admin/maintenance/{run_id}", {}).status_code == 401
    for missing in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", run_id + "0"):
        response = call(client, "GET", f"/admin/maintenance/{missing}", admin)
        assert response.status_code == 404 and json.loads(response.body)["error"]["code"] == "not_found"


def test_cleanup_stops_at_its_time_budget_and_says_more_is_due(fake_clock: FakeClock) -> None:
    old = [make_job("Error") for _ in range(3)]
    fake_clock.advance(days=2)
    report = maintenance.cleanup(1, seconds=0)
    assert report.deleted == [] and report.more_due is True
    assert all(exists(j.job_id) for j in old)
    report = maintenance.cleanup(1)
    assert sorted(report.deleted) == sorted(j.job_id for j in old) and report.more_due is False


BAD_DAYS = ["", "?days=-1", "?days=0", "?days=abc", "?days=1.5", "?days=5.0", "?days=%2B5", "?days=%205",
            "?days=1_0", "?days=99999999", "?days=1&x=2", "?days="]


def test_cleanup_rejects_bad_days(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, admin = make_user(role="admin")
    job = make_job("Error")
    fake_clock.advance(minutes=30)
    for query in BAD_DAYS:
        response = call(client, "DELETE", "/jobs/cleanup" + query, admin)
        assert response.status_code == 400, (query, response.body)
        assert json.loads(response.body)["error"]["code"] == "validation_error"
    assert exists(job.job_id)


def test_cleanup_route_wins_over_job_id_route(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    job = make_job("Error")
    fake_clock.advance(days=2)
    _, admin = make_user(role="admin")
    response = call(client, "DELETE", "/jobs/cleanup?days=1", admin)
    assert response.status_code == 200, response.body
    assert json.loads(response.body) == {"deleted": [job.job_id], "count": 1, "failed": [], "more_due": False}
    # the variable route still serves real ids
    other = make_job("Error")
    assert call(client, "DELETE", f"/jobs/{other.job_id}", admin).status_code == 204
    assert call(client, "DELETE", "/jobs/00000000-0000-4000-8000-000000000000", admin).status_code == 404


# --- TTL safety net -------------------------------------------------------------------------


def test_ttl_expires_a_week_after_the_purge_is_due(fake_clock: FakeClock) -> None:
    for status in PATHS:
        job = queries.get_job(make_job(status, with_objects=False).job_id)
        due = clock.parse_iso(job.status_changed_at) + timedelta(days=RETENTION[status])
        assert job.expires_at == due + timedelta(days=7), status
        fake_clock.advance(seconds=1)


# --- cost at scale ---------------------------------------------------------------------------


class DynamoMeter:
    """Counts DynamoDB calls by operation and the items they read, via botocore events."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0

    def __call__(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        if "ScannedCount" in parsed or "Count" in parsed:
            self.items_read += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif model.name == "GetItem" and "Item" in parsed:
            self.items_read += 1
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())


@pytest.fixture
def meter() -> Iterator[DynamoMeter]:
    counter = DynamoMeter()
    clients = {id(c): c for c in models.dynamodb_clients()}.values()
    for c in clients:
        c.meta.events.register("after-call.dynamodb", counter)
    yield counter
    for c in clients:
        c.meta.events.unregister("after-call.dynamodb", counter)


def _bulk_job(n: int, status: str, changed: str, **extra: Any) -> JobModel:
    return JobModel(
        f"00000000-0000-4000-8000-{n:012d}",
        user_id=f"user{n % 50}",
        job_name=f"bulk{n}",
        status=status,
        user_status=f"user{n % 50}#{status}",
        created_at=changed,
        updated_at=changed,
        status_changed_at=changed,
        **extra,
    )


@pytest.mark.slow
def test_ten_thousand_jobs_ten_due_reads_only_what_it_needs(fake_clock: FakeClock, meter: DynamoMeter) -> None:
    now = clock.now()
    at = lambda **delta: clock.to_iso(now - timedelta(**delta))  # noqa: E731
    statuses = ["Submitted", "Running", "Completed", "Error", "Archived", "Cancelled"]
    due = {  # 10 jobs with work to do
        "stalled": [_bulk_job(n, "Running", at(hours=1), heartbeat_at=at(minutes=30)) for n in (1, 2)],
        "purged": [_bulk_job(3, "Submitted", at(days=3)), _bulk_job(4, "Submitted", at(days=2, seconds=5)),
                   _bulk_job(5, "Submitted", at(days=9)), _bulk_job(6, "Error", at(days=20)),
                   _bulk_job(7, "Error", at(days=15)), _bulk_job(8, "Cancelled", at(days=40))],
        "archived": [_bulk_job(n, "Completed", at(days=8)) for n in (9, 10)],
    }
    with JobModel.batch_write() as batch:
        for group in due.values():
            for job in group:
                batch.save(job)
        for n in range(11, 10_001):  # 9,990 jobs with nothing due
            status = statuses[n % 6]
            recent = at(minutes=n % 15) if status == "Running" else at(hours=n % 40)
            batch.save(_bulk_job(n, status, recent, heartbeat_at=recent if status == "Running" else None))
    for job in due["archived"]:
        write_results(job)
    meter.calls.clear()
    meter.items_read = 0

    report = run()

    assert sorted(report.stalled) == sorted(j.job_id for j in due["stalled"])
    assert sorted(report.purged) == sorted(j.job_id for j in due["purged"])
    assert sorted(report.archived) == sorted(j.job_id for j in due["archived"])
    assert not report.failed and not report.more_due
    print(f"\n10,000 jobs, 10 due: {sum(meter.calls.values())} DynamoDB calls {dict(meter.calls)}, "
          f"{meter.items_read} items read")
    assert meter.calls["Scan"] == 0
    # 8 index queries + the lone-mate slice (read pairs) + one events query per purge
    assert meter.calls["Query"] == 9 + len(due["purged"])
    assert meter.items_read == 10  # exactly the due jobs: none of the other 9,990 is read
    assert sum(meter.calls.values()) <= 30  # + one transaction per job acted on
    assert JobModel.count() == 10_000 - len(due["purged"])  # (a Scan outside the measured run)

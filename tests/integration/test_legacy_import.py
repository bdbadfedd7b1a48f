"""The legacy import (design §16) on moto: both database shapes with every awkward row,
logins with each hash kind, idempotence, records never overwritten, result files; and how
the earlier service's timestamps are read."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from chalicelib.accounts import passwords, users
from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import JobModel, STATUSES
from chalicelib.jobs import lifecycle, queries, s3layout
from tests import legacy_db
from tests.integration.test_accounts_api import mailbox, reset_token_from  # noqa: F401  (fixture)
from tools import legacy_import
from tools.legacy_import import IMPORTED, INTERRUPTED, LEGACY_NAMESPACE, REJECTED, SKIPPED, Rejected, parse_time

OUTCOMES = (IMPORTED, SKIPPED, REJECTED)


def counts(report: legacy_import.Report, table: str) -> dict[str, int]:
    return {o: report.counts[table][o] for o in OUTCOMES}


def run(exp: legacy_db.Expected, **kwargs: Any) -> legacy_import.Report:
    kwargs.setdefault("allow_admins", True)  # the fixture database has an administrator the operator asked for
    return legacy_import.run(exp.path, settings=get_settings(), **kwargs)


def job_of(exp: legacy_db.Expected, role: str) -> JobModel:
    legacy_id = exp.ids[role]
    try:
        job_id = str(uuid.UUID(legacy_id))
    except ValueError:
        job_id = str(uuid.uuid5(LEGACY_NAMESPACE, legacy_id))
    return queries.get_job(job_id)


def stage_user_id(exp: legacy_db.Expected, role: str) -> str:
    legacy_id = exp.ids[role]
    try:
        return str(uuid.UUID(legacy_id))
    except ValueError:
        return str(uuid.uuid5(LEGACY_NAMESPACE, legacy_id))


def assert_counters_match_jobs(user_ids: list[str]) -> None:
    """Every user's counters equal its jobs by status (read through the index), and the
    global counters equal the sum."""
    totals = {s: 0 for s in STATUSES}
    for user_id in user_ids:
        by_status = {s: len(list(JobModel.user_status_index.query(f"{user_id}#{s}"))) for s in STATUSES}
        assert queries.get_stats(queries.user_scope(user_id))["by_status"] == by_status, user_id
        assert len(list(JobModel.user_created_index.query(user_id))) == sum(by_status.values())
        for s, n in by_status.items():
            totals[s] += n
    assert queries.get_stats(queries.GLOBAL_SCOPE)["by_status"] == totals


@pytest.fixture(params=["rows", "columns"])
def legacy(request: Any, tmp_path: Path) -> legacy_db.Expected:
    return legacy_db.build(tmp_path / "legacy.db", shape=request.param, bulk_jobs=40, bulk_users=3)


def test_import_reports_every_row_and_preserves_the_records(aws_env: None, legacy: legacy_db.Expected) -> None:
    report = run(legacy)
    assert counts(report, legacy_import.USERS) == legacy.users
    assert counts(report, legacy_import.JOBS) == legacy.jobs
    assert counts(report, legacy_import.PARAMS) == legacy.params
    assert counts(report, legacy_import.FILES) == legacy.files
    reasons = {(e["table"], e["id"]): e["reason"] for e in report.entries}
    assert reasons[("users", legacy.ids["dup_name"])].startswith("duplicate username 'ALICE'")
    assert reasons[("users", legacy.ids["dup_email"])].startswith("duplicate email 'Alice@Example.org'")
    assert reasons[("amr_jobs", legacy.ids["no_name"])] == "missing job name"
    assert reasons[("amr_jobs", legacy.ids["blank_name"])] == "missing job name"
    assert reasons[("amr_jobs", legacy.ids["unknown_status"])] == "unknown status 'Paused'"
    assert reasons[("amr_jobs", legacy.ids["no_owner"])] == "no owner (user_id is empty)"
    assert "was not imported" in reasons[("amr_jobs", legacy.ids["rejected_owner"])]
    assert "not a timestamp" in reasons[("amr_jobs", legacy.ids["bad_time"])]
    assert any(e["reason"].startswith("orphan") for e in report.entries)

    running = job_of(legacy, "running")  # Running -> Error, progress and owner kept
    assert (running.status, running.error, running.progress) == ("Error", INTERRUPTED, 42.5)
    assert running.user_id == stage_user_id(legacy, "bcrypt") and running.source == "legacy"
    assert running.created_at == "2024-05-01T08:00:00.000Z" and running.started_at == "2024-05-01T08:00:05.000Z"
    events = [e.message for e in queries.list_events(running.job_id).items]
    assert events[0].startswith("Imported from legacy database (status running")
    assert events[1] == f"Status Running -> Error: {INTERRUPTED}"
    zoned = job_of(legacy, "zoned")
    assert zoned.created_at == "2024-05-02T08:00:00.000Z" and zoned.completed_at == "2024-05-02T08:00:31.250Z"
    assert job_of(legacy, "error").error == "minimap2 crashed"
    submitted = job_of(legacy, "submitted")
    assert (submitted.status, submitted.progress, submitted.started_at) == ("Submitted", 0, None)
    mapped = job_of(legacy, "int_id")  # non-UUID ids map to stable UUIDs, owner too
    assert mapped.status == "Cancelled" and mapped.legacy["id"] == "legacy-7"
    assert mapped.user_id == str(uuid.uuid5(LEGACY_NAMESPACE, "42"))
    assert users.get_user(mapped.user_id).legacy_id == "42"
    good = job_of(legacy, "with_results").params.as_dict()
    assert good["batch_size"] == 8 and good["segment_length"] == 100000  # defaults filled like POST /jobs
    bad = job_of(legacy, "bad_params").params.as_dict()  # valid values kept, invalid ones dropped
    defaults = job_of(legacy, "submitted").params.as_dict()
    assert bad == ({**defaults, "segment_length": 50000} if legacy.shape == "rows" else defaults)
    alice = users.get_user(stage_user_id(legacy, "bcrypt"))
    assert alice is not None and alice.username == "Alice" and alice.created_at == "2024-01-02T03:04:05.000Z"
    if legacy.shape == "rows":
        assert alice.role == "admin" and alice.last_login == "2024-06-01T10:00:00.000Z"
        assert users.get_user(stage_user_id(legacy, "inactive")).is_active is False
    assert users.get_user(stage_user_id(legacy, "bcrypt2a")).created_at == "2024-01-03T01:04:05.000Z"
    stage_ids = [stage_user_id(legacy, r) for r in legacy.ids if r in ("bcrypt", "legacyint") or r.startswith("bulk") and not r.startswith("bulk_job")]
    assert_counters_match_jobs(stage_ids)
    stats = queries.get_stats(queries.GLOBAL_SCOPE)
    assert stats["by_status"] == {s: legacy.statuses.get(s, 0) for s in STATUSES}
    assert stats["top_models"] == [{"model_name": "resfinder", "count": legacy.jobs[IMPORTED]}]


def test_second_run_imports_nothing_and_changes_nothing(aws_env: None, legacy: legacy_db.Expected) -> None:
    run(legacy)
    before = queries.get_stats(queries.GLOBAL_SCOPE)
    events = len(queries.list_events(job_of(legacy, "running").job_id).items)
    again = run(legacy)
    assert again.imported == 0
    assert counts(again, legacy_import.USERS) == {IMPORTED: 0, SKIPPED: legacy.users[IMPORTED], REJECTED: legacy.users[REJECTED]}
    assert counts(again, legacy_import.JOBS) == {IMPORTED: 0, SKIPPED: legacy.jobs[IMPORTED], REJECTED: legacy.jobs[REJECTED]}
    assert counts(again, legacy_import.PARAMS)[IMPORTED] == 0
    assert "Nothing to import" in legacy_import.render(again, legacy.path, get_settings())
    assert queries.get_stats(queries.GLOBAL_SCOPE) == before
    assert len(queries.list_events(job_of(legacy, "running").job_id).items) == events


def test_dry_run_writes_nothing(aws_env: None, legacy: legacy_db.Expected) -> None:
    report = run(legacy, dry_run=True)
    assert counts(report, legacy_import.JOBS) == legacy.jobs
    assert counts(report, legacy_import.USERS) == legacy.users
    assert users.get_user(stage_user_id(legacy, "bcrypt")) is None
    assert queries.get_stats(queries.GLOBAL_SCOPE)["total"] == 0
    assert aws.client("s3").list_objects_v2(Bucket=get_settings().results_bucket).get("KeyCount") == 0


def test_a_newer_record_in_the_stage_is_never_overwritten(aws_env: None, tmp_path: Path, make_user: Any) -> None:
    legacy = legacy_db.build(tmp_path / "legacy.db", bulk_jobs=0, bulk_users=0)
    owner_id, _ = make_user("zed")
    newer = lifecycle.create_job(user_id=owner_id, job_name="newer", params={}, job_id=legacy.ids["error"])
    taken, _ = make_user("carol")  # the stage already has a 'carol' of its own
    report = run(legacy)
    reasons = {(e["table"], e["id"]): (e["outcome"], e["reason"]) for e in report.entries}
    assert reasons[("amr_jobs", legacy.ids["error"])] == (SKIPPED, "already in the stage (kept as it is)")
    assert reasons[("users", legacy.ids["pbkdf2"])] == (REJECTED, "the username belongs to another account of this stage")
    kept = queries.get_job(newer.job_id)
    assert (kept.job_name, kept.status, kept.user_id) == ("newer", "Submitted", owner_id)
    assert users.get_user_by_username("carol").user_id == taken
    assert_counters_match_jobs([owner_id, stage_user_id(legacy, "bcrypt"), stage_user_id(legacy, "legacyint")])


def test_result_files_uploaded_and_missing_ones_reported(aws_env: None, client: Any, legacy: legacy_db.Expected) -> None:
    run(legacy)
    settings = get_settings()
    with_results, without = job_of(legacy, "with_results"), job_of(legacy, "missing_results")
    [key] = with_results.result_keys
    assert key == s3layout.result_key(with_results.user_id, with_results.job_id, "legacy-result-ok.json")
    assert json.loads(s3layout.get_object_bytes(settings.results_bucket, key) or b"") == {"genes": ["blaKPC-2"]}
    assert not without.result_keys and without.status == "Completed"
    alice = users.get_user(with_results.user_id)
    from chalicelib.accounts import auth

    headers = {"Authorization": f"Bearer {auth.issue_token(alice)}"}
    ok = client.http.get(f"/jobs/{with_results.job_id}/results", headers=headers)
    assert ok.status_code == 200
    body = json.loads(ok.body)
    assert body["legacy"] is True and list(body["download_urls"]) == ["legacy-result-ok.json"]
    missing = client.http.get(f"/jobs/{without.job_id}/results", headers=headers)
    assert missing.status_code == 404
    assert json.loads(missing.body)["error"]["code"] == "results_not_migrated"
    assert client.http.get(f"/jobs/{without.job_id}", headers=headers).status_code == 200


def login(client: Any, username: str, password: str) -> Any:
    body = json.dumps({"username": username, "password": password}).encode()
    return client.http.post("/auth/login", headers={"Content-Type": "application/json"}, body=body)


@pytest.mark.parametrize("role,username", [
    ("bcrypt", "alice"), ("bcrypt2a", "bob"), ("pbkdf2", "carol"), ("argon2", "dave"), ("legacyint", "frank"),
])
def test_login_with_each_legacy_hash_then_argon2id(aws_env: None, client: Any, tmp_path: Path, role: str, username: str) -> None:
    legacy = legacy_db.build(tmp_path / "legacy.db", bulk_jobs=0, bulk_users=0)
    run(legacy)
    old_hash = users.get_user_by_username(username).password_hash
    assert login(client, username, "wrong-password-1").status_code == 401
    assert users.get_user_by_username(username).password_hash == old_hash  # a failure changes nothing
    assert login(client, username, legacy_db.PASSWORDS[role]).status_code == 200
    new_hash = users.get_user_by_username(username).password_hash
    assert new_hash.startswith("$argon2id$") and new_hash != old_hash and not passwords.needs_rehash(new_hash)
    assert login(client, username, legacy_db.PASSWORDS[role]).status_code == 200
    assert login(client, username, "wrong-password-1").status_code == 401


def test_unknown_hash_requires_a_reset(aws_env: None, client: Any, tmp_path: Path, mailbox: Any) -> None:  # noqa: F811
    legacy = legacy_db.build(tmp_path / "legacy.db", bulk_jobs=0, bulk_users=0)
    report = run(legacy)
    assert report.notes["users imported with a password reset required (unknown hash format)"] == 1
    erin = users.get_user_by_username("erin")
    assert erin.password_reset_required is True and erin.password_hash is None
    refused = login(client, "erin", "anything-at-all")
    assert refused.status_code == 403 and json.loads(refused.body)["error"]["code"] == "password_reset_required"
    body = json.dumps({"email": "erin@example.org"}).encode()
    assert client.http.post("/auth/password-reset", headers={"Content-Type": "application/json"}, body=body).status_code == 202
    token = reset_token_from(mailbox("erin@example.org")[0])
    confirm = json.dumps({"token": token, "new_password": "erin-new-password"}).encode()
    assert client.http.post("/auth/password-reset/confirm", headers={"Content-Type": "application/json"}, body=confirm).status_code == 204
    assert login(client, "erin", "erin-new-password").status_code == 200
    assert not users.get_user_by_username("erin").password_reset_required


def test_unreadable_database_is_a_clear_error(aws_env: None, tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(SystemExit, match="not a readable SQLite database"):
        legacy_import.run(bad, settings=get_settings())
    with pytest.raises(SystemExit, match="no such file"):
        legacy_import.run(tmp_path / "absent.db", settings=get_settings())


def test_maintenance_archives_imported_jobs_with_and_without_results(
    aws_env: None, client: Any, fake_clock: Any, tmp_path: Path
) -> None:
    from chalicelib.accounts import auth
    from chalicelib.maintenance import tasks

    legacy = legacy_db.build(tmp_path / "legacy.db", bulk_jobs=0, bulk_users=0)
    run(legacy)
    fake_clock.advance(days=8)  # past archiving.min_age_days, counted from the import
    report = tasks.run(["archive"])
    with_results, without = job_of(legacy, "with_results"), job_of(legacy, "missing_results")
    assert {with_results.job_id, without.job_id} <= set(report.archived) and not report.failed
    assert with_results.status == without.status == "Archived"
    [archived_key] = with_results.archive_keys
    assert archived_key.endswith("legacy-result-ok.json.gz")
    headers = {"Authorization": f"Bearer {auth.issue_token(users.get_user(with_results.user_id))}"}
    ok = client.http.get(f"/jobs/{with_results.job_id}/results", headers=headers)
    assert ok.status_code == 200 and list(json.loads(ok.body)["download_urls"]) == ["legacy-result-ok.json.gz"]
    missing = client.http.get(f"/jobs/{without.job_id}/results", headers=headers)
    assert json.loads(missing.body)["error"]["code"] == "results_not_migrated"
    assert_counters_match_jobs([with_results.user_id, stage_user_id(legacy, "legacyint")])


@pytest.mark.parametrize("text,expected", [
    ("2024-01-02 03:04:05", "2024-01-02T03:04:05.000Z"),
    ("2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123Z"),
    ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.000Z"),
    ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
    ("2024-01-02", "2024-01-02T00:00:00.000Z"),
    (1704164645, "2024-01-02T03:04:05.000Z"),
])
def test_legacy_timestamps_become_utc_with_milliseconds(text: object, expected: str) -> None:
    assert parse_time(text, "created_at") == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01", "12:00"])
def test_bad_legacy_timestamps_are_rejected_with_the_value(text: str) -> None:
    with pytest.raises(Rejected, match="is not a timestamp"):
        parse_time(text, "created_at")

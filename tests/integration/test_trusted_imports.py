"""Imports trust nothing (design §23): result paths confined to the files root, admin rows
refused unless asked for, owners mapped only to matching accounts."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from chalicelib.accounts import users
from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.jobs import queries
from tools import legacy_import

BCRYPT = "$2b$04$BynJwo4GQjQVxne0ny.UFOb79JaooQWK8Yaq4nLZ22Uu/cXOSN.om"


def _db(path: Path, users_rows: list[tuple[str, str, str, str]], jobs: list[tuple[str, str, str | None]]) -> Path:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT UNIQUE, password_hash TEXT, email TEXT,"
        " created_at TIMESTAMP, role TEXT DEFAULT 'user')"
    )
    db.execute(
        "CREATE TABLE amr_jobs (id TEXT PRIMARY KEY, user_id TEXT, job_name TEXT, status TEXT, progress REAL,"
        " created_at TIMESTAMP, started_at TIMESTAMP, completed_at TIMESTAMP, error TEXT,"
        " input_file_path TEXT, result_file_path TEXT)"
    )
    db.execute("CREATE TABLE amr_job_params (id INTEGER PRIMARY KEY, job_id TEXT, param_name TEXT, param_value TEXT)")
    for uid, name, email, role in users_rows:
        db.execute("INSERT INTO users VALUES (?, ?, ?, ?, '2024-01-01 00:00:00', ?)", (uid, name, BCRYPT, email, role))
    for jid, owner, result in jobs:
        db.execute(
            "INSERT INTO amr_jobs VALUES (?, ?, 'j', 'Completed', 100, '2024-01-01', '2024-01-01', '2024-01-01',"
            " NULL, 'in.fa', ?)",
            (jid, owner, result),
        )
    db.commit()
    db.close()
    return path


def _results(user_id: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().results_bucket, Prefix=f"results/{user_id}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_result_paths_outside_the_files_root_are_refused(aws_env: None, tmp_path: Path) -> None:
    """Today: `../secret` and absolute paths are uploaded into the stage's results bucket."""
    root = tmp_path / "files"
    root.mkdir()
    (root / "ok.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("private key")
    (root / "link.json").symlink_to(secret)
    uid = str(uuid.uuid4())
    jobs = [
        (str(uuid.uuid4()), uid, p)
        for p in ("ok.json", "../secret.txt", str(secret), "link.json", str(root / "ok.json"))
    ]
    db = _db(tmp_path / "old.db", [(uid, "olga", "olga@example.org", "user")], jobs)

    report = legacy_import.run(db, settings=get_settings(), files_root=root)

    assert report.counts[legacy_import.FILES][legacy_import.IMPORTED] == 2  # ok.json, relative and absolute inside
    assert report.counts[legacy_import.FILES][legacy_import.REJECTED] == 3
    assert "result path outside the files root" in report.reasons()
    bodies = [
        aws.client("s3").get_object(Bucket=get_settings().results_bucket, Key=k)["Body"].read() for k in _results(uid)
    ]
    assert b"private key" not in bodies and len(bodies) == 2


def test_admin_rows_are_refused_unless_asked_for(aws_env: None, tmp_path: Path) -> None:
    """Today: a row with role admin becomes an administrator of the stage."""
    uid = str(uuid.uuid4())
    db = _db(tmp_path / "old.db", [(uid, "mallory", "m@example.org", "admin")], [(str(uuid.uuid4()), uid, None)])

    report = legacy_import.run(db, settings=get_settings())
    assert users.get_user(uid) is None
    assert "admin account refused" in report.reasons()
    assert report.counts[legacy_import.JOBS][legacy_import.REJECTED] == 1  # its owner was not imported

    legacy_import.run(db, settings=get_settings(), allow_admins=True)
    assert users.get_user(uid).role == "admin"


@pytest.mark.parametrize("dry_run", [True, False])
def test_owners_map_only_to_matching_accounts(aws_env: None, tmp_path: Path, dry_run: bool) -> None:
    """Today: a row reusing an existing account's id hands its jobs to that account."""
    victim = users.create_user(username="victor", email="victor@example.org", password="correct-horse-1")
    job_id = str(uuid.uuid4())
    db = _db(
        tmp_path / "old.db", [(victim.user_id, "eve", "eve@example.org", "user")], [(job_id, victim.user_id, None)]
    )

    report = legacy_import.run(db, settings=get_settings(), dry_run=dry_run)

    assert "the user id belongs to a different account" in report.reasons()
    assert report.counts[legacy_import.JOBS][legacy_import.REJECTED] == 1
    assert queries.list_user_jobs(victim.user_id, limit=10).items == []

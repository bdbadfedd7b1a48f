"""Databases of the earlier AMR service (design §16), built for tests and the benchmark.

`build` writes a SQLite file in either parameter shape with every awkward row the import
must survive, plus `bulk_jobs` ordinary jobs, and returns what a correct import must
report. Hashes are made with the libraries the earlier service used (bcrypt, passlib,
argon2-cffi), cheap parameters for speed.
"""
from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
from argon2 import PasswordHasher, Type
from passlib.hash import pbkdf2_sha256

PASSWORDS = {
    "bcrypt": "bcrypt-password-1",
    "bcrypt2a": "bcrypt-2a-password",
    "pbkdf2": "pbkdf2-password-1",
    "argon2": "argon2-password-1",
    "legacyint": "integer-id-password",
}
STATUS_SPELLINGS = ["Completed", "completed", "ERROR", "Error", "Submitted", "archived", "Cancelled", "Running"]


def _bcrypt(password: str, prefix: bytes = b"2b") -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=prefix)).decode()


@dataclass
class Expected:
    """What a correct import reports for the built database."""

    path: Path
    shape: str
    users: dict[str, int] = field(default_factory=dict)  # outcome -> count
    jobs: dict[str, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # role of a row -> its legacy id
    statuses: dict[str, int] = field(default_factory=dict)  # stage status -> imported jobs


def build(path: Path, *, shape: str = "rows", bulk_jobs: int = 100, bulk_users: int = 5, seed: int = 7) -> Expected:
    """Write the legacy database at `path`; result files live beside it in `files/`."""
    rng = random.Random(seed)
    files = path.parent / "files"
    files.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    full = shape == "rows"  # the rows-shape database also has every optional user column
    db.execute(
        "CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT UNIQUE, password_hash TEXT, email TEXT,"
        " created_at TIMESTAMP" + (", is_active BOOLEAN DEFAULT 1, last_login TEXT, role TEXT DEFAULT 'user'" if full else "")
        + ")"
    )
    db.execute(
        "CREATE TABLE amr_jobs (id TEXT PRIMARY KEY, user_id TEXT REFERENCES users(id), job_name TEXT, status TEXT,"
        " progress REAL, created_at TIMESTAMP, started_at TIMESTAMP, completed_at TIMESTAMP, error TEXT,"
        " input_file_path TEXT, result_file_path TEXT)"
    )
    if shape == "rows":
        db.execute("CREATE TABLE amr_job_params (id INTEGER PRIMARY KEY, job_id TEXT, param_name TEXT, param_value TEXT)")
    else:
        db.execute(
            "CREATE TABLE amr_job_params (job_id TEXT PRIMARY KEY, model_name TEXT, batch_size INTEGER,"
            " segment_length INTEGER, segment_overlap INTEGER, use_cpu BOOLEAN)"
        )
    exp = Expected(path, shape)
    imported_users = rejected_users = 0

    def user(key: str, username: str, password_hash: str, email: str, created: Any, **extra: Any) -> str:
        legacy_id = extra.pop("legacy_id", None) or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        cols = {"id": legacy_id, "username": username, "password_hash": password_hash, "email": email, "created_at": created}
        if full:
            cols.update(extra)
        db.execute(f"INSERT INTO users ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", list(cols.values()))
        exp.ids[key] = legacy_id
        return legacy_id

    fast_argon = PasswordHasher(type=Type.I, time_cost=1, memory_cost=64, parallelism=1)
    owner = user("bcrypt", "Alice", _bcrypt(PASSWORDS["bcrypt"]), "alice@example.org", "2024-01-02 03:04:05",
                 is_active=1, role="admin", last_login="2024-06-01T10:00:00")
    user("bcrypt2a", "bob", _bcrypt(PASSWORDS["bcrypt2a"], b"2a"), "bob@example.org", "2024-01-03T03:04:05+02:00")
    user("pbkdf2", "carol", pbkdf2_sha256.using(rounds=1000).hash(PASSWORDS["pbkdf2"]), "carol@example.org",
         "2024-01-04T05:06:07.123456Z", is_active="true")
    user("argon2", "dave", fast_argon.hash(PASSWORDS["argon2"]), "dave@example.org", "2024-01-05 00:00:00.5")
    user("unknown", "erin", hashlib.md5(b"erin").hexdigest(), "erin@example.org", "2024-01-06")
    user("legacyint", "frank", _bcrypt(PASSWORDS["legacyint"]), "frank@example.org", "2024-01-07", legacy_id="42")
    user("inactive", "grace", _bcrypt("whatever-1234"), "grace@example.org", "2024-01-08", is_active=0)
    imported_users += 7
    user("dup_name", "ALICE", _bcrypt("x" * 12), "other@example.org", "2024-02-01")
    user("dup_email", "alice2", _bcrypt("x" * 12), "Alice@Example.org", "2024-02-02")
    user("bad_name", "x", _bcrypt("x" * 12), "x@example.org", "2024-02-03")
    user("bad_email", "heidi", _bcrypt("x" * 12), "not-an-email", "2024-02-04")
    rejected_users += 4
    bulk_hash = pbkdf2_sha256.using(rounds=1000).hash("bulk-password-1")
    bulk = [user(f"bulk{i}", f"bulk_user_{i}", bulk_hash, f"bulk{i}@example.org", f"2024-03-{1 + i % 28:02d} 12:00:00")
            for i in range(bulk_users)]
    imported_users += bulk_users
    exp.users = {"imported": imported_users, "skipped": 0, "rejected": rejected_users}

    jobs = {"imported": 0, "rejected": 0}
    params = {"imported": 0, "rejected": 0}
    file_counts = {"imported": 0, "rejected": 0}
    statuses: dict[str, int] = {}

    def job(key: str, owner_id: Any, name: Any, status: str, *, ok: bool = True, legacy_id: str | None = None,
            created: Any = "2024-05-01 08:00:00", started: Any = "2024-05-01 08:00:05",
            completed: Any = "2024-05-01 08:01:05", progress: Any = 100.0, error: Any = None,
            result: str | None = None, job_params: dict[str, Any] | None = None, bad_params: int = 0) -> str:
        legacy_id = legacy_id or str(uuid.UUID(int=rng.getrandbits(128), version=4))
        db.execute(
            "INSERT INTO amr_jobs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (legacy_id, owner_id, name, status, progress, created, started, completed, error,
             f"/data/uploads/{legacy_id}.fasta", result),
        )
        job_params = job_params or {}
        if shape == "rows":
            for pname, value in job_params.items():
                db.execute("INSERT INTO amr_job_params (job_id, param_name, param_value) VALUES (?,?,?)",
                           (legacy_id, pname, None if value is None else str(value)))
        elif job_params:
            cols = ["job_id"] + list(job_params)
            db.execute(f"INSERT INTO amr_job_params ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                       [legacy_id] + list(job_params.values()))
        count = len(job_params)
        jobs["imported" if ok else "rejected"] += 1
        params["rejected"] += count if not ok else bad_params
        params["imported"] += count - bad_params if ok else 0
        if ok:
            final = "Error" if status.lower() == "running" else status.capitalize()
            statuses[final] = statuses.get(final, 0) + 1
        exp.ids[key] = legacy_id
        return legacy_id

    good = {"model_name": "resfinder", "batch_size": 8} if shape == "rows" else {"model_name": "resfinder", "batch_size": 8, "use_cpu": 1}
    result_file = files / "result-ok.json"
    result_file.write_text(json.dumps({"genes": ["blaKPC-2"]}))
    job("with_results", owner, "Ward 7 isolate", "COMPLETED", result="files/result-ok.json", job_params=good)
    file_counts["imported"] += 1
    job("missing_results", owner, "lost results", "completed", result="files/absent.json", job_params=good)
    file_counts["rejected"] += 1
    job("running", owner, "was running", "running", completed=None, progress=42.5, job_params=good)
    job("error", owner, "failed", "error", error="minimap2 crashed", progress=10, job_params=good)
    job("submitted", owner, "waiting", "Submitted", started=None, completed=None, progress=None)
    job("zoned", owner, "zoned times", "Completed", created="2024-05-02T10:00:00+02:00",
        started="2024-05-02T08:00:01Z", completed="2024-05-02T08:00:31.250Z")
    job("int_id", exp.ids["legacyint"], "integer id job", "Cancelled", legacy_id="legacy-7", completed=None, progress=5)
    if shape == "rows":
        job("bad_params", owner, "bad params", "Completed",
            job_params={"batch_size": "lots", "flavour": "mint", "segment_length": "50000"}, bad_params=2)
    else:
        job("bad_params", owner, "bad params", "Completed",
            job_params={"segment_length": 6000, "segment_overlap": 7000}, bad_params=2)
    job("no_name", owner, None, "Completed", ok=False, job_params=good)
    job("blank_name", owner, "   ", "Completed", ok=False)
    job("unknown_status", owner, "paused job", "Paused", ok=False)
    job("no_owner", None, "ownerless", "Completed", ok=False)
    job("rejected_owner", exp.ids["dup_name"], "owner rejected", "Completed", ok=False)
    job("bad_time", owner, "bad time", "Completed", created="yesterday", ok=False)
    # orphan parameters: their job does not exist
    if shape == "rows":
        db.execute("INSERT INTO amr_job_params (job_id, param_name, param_value) VALUES ('no-such-job', 'batch_size', '4')")
    else:
        db.execute("INSERT INTO amr_job_params (job_id, batch_size) VALUES ('no-such-job', 4)")
    params["rejected"] += 1
    for i in range(bulk_jobs):
        spelling = STATUS_SPELLINGS[i % len(STATUS_SPELLINGS)]
        done = spelling.lower() not in ("submitted", "running")
        job(f"bulk_job{i}", bulk[i % len(bulk)] if bulk else owner, f"bulk job {i}", spelling,
            created=f"2024-07-{1 + i % 28:02d} {i % 24:02d}:00:00", started=f"2024-07-{1 + i % 28:02d} {i % 24:02d}:00:10",
            completed=f"2024-07-{1 + i % 28:02d} {i % 24:02d}:05:10" if done else None,
            progress=100 if done else 50, job_params={"batch_size": 1 + i % 64, "segment_length": 100000})
    db.commit()
    db.close()
    exp.jobs = {"imported": jobs["imported"], "skipped": 0, "rejected": jobs["rejected"]}
    exp.params = {"imported": params["imported"], "skipped": 0, "rejected": params["rejected"]}
    exp.files = {"imported": file_counts["imported"], "skipped": 0, "rejected": file_counts["rejected"]}
    exp.statuses = statuses
    return exp

"""End to end: the legacy import and the backup tools against the running local stack,
as an operator runs them (`python -m tools...`), then the API as a migrated user meets it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import legacy_db
from tests.e2e.localstack import PROJECT_DIR, Stack
from tools.backup import MANIFEST

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COPY_NAMES = {
    "AMR_JOBS_TABLE": "amr-copy-jobs", "AMR_USERS_TABLE": "amr-copy-users", "AMR_EVENTS_TABLE": "amr-copy-events",
    "AMR_COUNTERS_TABLE": "amr-copy-counters", "AMR_RUNS_TABLE": "amr-copy-runs", "AMR_UPLOAD_BUCKET": "amr-copy-uploads",
    "AMR_RESULTS_BUCKET": "amr-copy-results", "AMR_ARCHIVE_BUCKET": "amr-copy-archive",
}


def tool(stack: Stack, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.env(), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)


def test_import_into_the_running_stack_then_log_in(stack: Stack, tmp_path: Path) -> None:
    legacy = legacy_db.build(tmp_path / "legacy.db", bulk_jobs=20, bulk_users=2)
    # The fixture database has an administrator the operator means to bring over (design §23).
    first = tool(stack, "tools.legacy_import", str(legacy.path), "--allow-admins")
    assert first.returncode == 0, first.stderr
    assert f"into stage local ({stack.emulator})" in first.stdout
    row = next(line for line in first.stdout.splitlines() if line.startswith("amr_jobs"))
    assert row.split()[1:] == [str(legacy.jobs["imported"]), "0", str(legacy.jobs["rejected"])]
    token = stack.login("alice", legacy_db.PASSWORDS["bcrypt"])  # bcrypt from the earlier service
    jobs = stack.http("GET", "/jobs?limit=100", token=token).body["jobs"]
    by_name = {j["job_name"]: j for j in jobs}
    assert by_name["was running"]["status"] == "Error" and by_name["was running"]["error"] == "interrupted by migration"
    results = stack.http("GET", f"/jobs/{by_name['Ward 7 isolate']['job_id']}/results", token=token)
    assert results.status == 200 and results.body["legacy"] is True
    missing = stack.http("GET", f"/jobs/{by_name['lost results']['job_id']}/results", token=token)
    assert missing.status == 404 and missing.body["error"]["code"] == "results_not_migrated"
    assert stack.login("carol", legacy_db.PASSWORDS["pbkdf2"])
    erin = stack.http("POST", "/auth/login", {"username": "erin", "password": "whatever-it-was"})
    assert erin.status == 403 and erin.body["error"]["code"] == "password_reset_required"

    again = tool(stack, "tools.legacy_import", str(legacy.path))
    assert again.returncode == 0 and "Nothing to import" in again.stdout


def _lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return sorted(handle)


def test_backup_round_trip_through_the_running_stack(stack: Stack, tmp_path: Path) -> None:
    stack.s3().put_object(Bucket="amr-local-archive", Key="archive/x/y/predictions.json.gz", Body=b"cold",
                          StorageClass="GLACIER_IR", Metadata={"original-key": "results/x/y/predictions.json"})
    exported = tool(stack, "tools.backup", "export", str(tmp_path / "one"))
    assert exported.returncode == 0, exported.stderr
    refused = tool(stack, "tools.backup", "restore", str(tmp_path / "one"))
    assert refused.returncode != 0 and "the stage is not empty" in refused.stderr
    restored = tool(stack, "tools.backup", "restore", str(tmp_path / "one"), "--create-missing", extra_env=COPY_NAMES)
    assert restored.returncode == 0, restored.stderr
    again = tool(stack, "tools.backup", "export", str(tmp_path / "two"), extra_env=COPY_NAMES)
    assert again.returncode == 0, again.stderr
    one, two = (read_manifest(tmp_path / name) for name in ("one", "two"))
    for kind, count in (("tables", "items"), ("buckets", "objects")):
        for role, entry in one[kind].items():
            assert two[kind][role][count] == entry[count], role
            assert _lines(tmp_path / "one" / entry["file"]) == _lines(tmp_path / "two" / two[kind][role]["file"]), role
    assert one["buckets"]["archive_bucket"]["objects"] >= 1 and one["tables"]["users_table"]["items"] > 0


def read_manifest(root: Path) -> Any:
    return json.loads((root / MANIFEST).read_text())

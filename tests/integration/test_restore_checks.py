"""A restore validates every item and object key before writing (design §23): a backup whose
checksums were recomputed after editing is still refused when its content is not the service's."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core import aws
from chalicelib.core.settings import Settings
from tests.integration.test_backup import copy_stage, filled_stage  # noqa: F401 (fixtures)
from tools import backup, restore_checks


def _tamper(root: Path, kind: str, role: str, edit: Callable[[list[dict[str, Any]]], None]) -> None:
    """Edit one file of the backup and recompute its checksum, as an attacker would."""
    manifest = json.loads((root / backup.MANIFEST).read_text())
    entry = manifest[kind][role]
    path = root / entry["file"]
    lines = list(backup.read_lines(path))
    edit(lines)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(backup.dump_line(line) for line in lines)
    entry["sha256"] = backup.sha256_file(path)
    (root / backup.MANIFEST).write_text(json.dumps(manifest))


def _jobs_with_results(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return next(line for line in lines if "status" in line)


EDITS: dict[str, tuple[str, str, Callable[[list[dict[str, Any]]], None], str]] = {
    "a job pointing at another user's results": (
        "tables",
        "jobs_table",
        lambda lines: _jobs_with_results(lines).update(
            result_keys={"L": [{"S": "results/other-user/job/predictions.json"}]}
        ),
        "outside its own prefix",
    ),
    "a user with an unknown role": (
        "tables",
        "users_table",
        lambda lines: next(line for line in lines if "role" in line).update(role={"S": "root"}),
        "unknown role 'root'",
    ),
    "an object key leaving its prefix": (
        "buckets",
        "upload_bucket",
        lambda lines: lines[0].update(key="inbox/../../etc/cron.d/x"),
        "leaves its prefix",
    ),
    "an item without its key": (
        "tables",
        "jobs_table",
        lambda lines: lines[0].pop("job_id"),
        "key attribute 'job_id' missing",
    ),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_restore_refuses_edited_content_before_writing(
    filled_stage: Settings,  # noqa: F811 (the fixture imported above)
    copy_stage: Any,  # noqa: F811
    tmp_path: Path,
    case: str,
) -> None:
    kind, role, edit, message = EDITS[case]
    root = tmp_path / "bk"
    backup.export(root, filled_stage)
    _tamper(root, kind, role, edit)
    copy_settings = copy_stage()
    with pytest.raises(backup.BackupError, match=message):
        backup.restore(root, copy_settings, create_missing=True)
    assert not [n for n in aws.client("dynamodb").list_tables()["TableNames"] if n.startswith("amr-copy")]


def test_manifest_files_stay_inside_the_backup(tmp_path: Path) -> None:
    assert restore_checks.inside(tmp_path, "tables/jobs.jsonl.gz")
    assert not restore_checks.inside(tmp_path, "../elsewhere.jsonl.gz")
    assert not restore_checks.inside(tmp_path, "/etc/passwd")

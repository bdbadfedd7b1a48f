"""Stage export and restore (design §16) on moto: a round trip into a fresh stage gives
identical items and objects; damaged backups and non-empty stages are refused."""
from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from chalicelib.core import aws, tables
from chalicelib.core.settings import Settings, get_settings
from chalicelib.jobs import queries
from tests import legacy_db
from tools import backup, legacy_import, stage

COPY_NAMES = {
    "jobs_table": "amr-copy-jobs", "users_table": "amr-copy-users", "events_table": "amr-copy-events",
    "counters_table": "amr-copy-counters", "runs_table": "amr-copy-runs", "upload_bucket": "amr-copy-uploads",
    "results_bucket": "amr-copy-results", "archive_bucket": "amr-copy-archive",
}


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything a stage holds, by role: items as canonical JSON, objects with their
    bytes, headers, metadata, tags and storage class."""
    s3, ddb = aws.client("s3"), aws.client("dynamodb")
    out: dict[str, Any] = {}
    for role, name in stage.table_names(settings).items():
        items = [backup.dump_line(i) for p in ddb.get_paginator("scan").paginate(TableName=name) for i in p.get("Items", [])]
        out[role] = sorted(items)
    for role, name in stage.bucket_names(settings).items():
        objects = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                got = s3.get_object(Bucket=name, Key=obj["Key"])
                tags = s3.get_object_tagging(Bucket=name, Key=obj["Key"])["TagSet"]
                objects[obj["Key"]] = (got["Body"].read(), got.get("ContentType"), got.get("Metadata"),
                                       sorted((t["Key"], t["Value"]) for t in tags), got.get("StorageClass", "STANDARD"))
        out[role] = objects
    return out


@pytest.fixture
def copy_stage(aws_env: None) -> Iterator[Any]:
    """Switches the models to a second, fresh stage (other table and bucket names).

    The settings object is replaced, not the environment: re-reading the environment
    mid-suite would pick up whatever other tests left in it."""

    def switch() -> Settings:
        copy = dataclasses.replace(get_settings(), **COPY_NAMES)
        tables.bind_models(copy)
        return copy

    yield switch
    tables.bind_models(get_settings())


@pytest.fixture
def filled_stage(aws_env: None, tmp_path: Path) -> Settings:
    """A stage with imported accounts and jobs, a binary item, and objects with metadata,
    tags and a cold storage class."""
    legacy = legacy_db.build(tmp_path / "legacy" / "legacy.db", bulk_jobs=30, bulk_users=3)
    settings = get_settings()
    legacy_import.run(legacy.path, settings=settings)
    s3 = aws.client("s3")
    s3.put_object(Bucket=settings.upload_bucket, Key="inbox/alice/genome.fa", Body=b">c\nACGT\n",
                  ContentType="text/x-fasta", Metadata={"job-name": "Ward 7"}, Tagging="amr-status=rejected&amr-reason=x")
    s3.put_object(Bucket=settings.archive_bucket, Key="archive/u/j/predictions.json.gz", Body=gzip.compress(b"{}"),
                  ContentType="application/gzip", StorageClass="GLACIER_IR")
    big = bytes(range(256)) * 8192  # 2 MiB: several chunks through the streaming paths
    s3.put_object(Bucket=settings.results_bucket, Key="results/u/j/big.bin", Body=big)
    aws.client("dynamodb").put_item(TableName=settings.counters_table, Item={"scope": {"S": "binary-probe"}, "b": {"B": b"\x00\xff"}})
    return settings


def test_export_restore_round_trip_is_identical(filled_stage: Settings, copy_stage: Any, tmp_path: Path) -> None:
    original = snapshot(filled_stage)
    exported = backup.export(tmp_path / "bk", filled_stage)
    manifest = json.loads((tmp_path / "bk" / backup.MANIFEST).read_text())
    assert manifest["complete"] and manifest["tables"]["jobs_table"]["items"] == len(original["jobs_table"])
    assert manifest["buckets"]["results_bucket"]["objects"] == len(original["results_bucket"])
    assert exported.tables["users_table"]["items"] == len(original["users_table"]) > 0
    copy_settings = copy_stage()
    summary = backup.restore(tmp_path / "bk", copy_settings, create_missing=True)
    assert summary.tables["jobs_table"]["name"] == "amr-copy-jobs" and not summary.problems
    assert snapshot(copy_settings) == original
    # the restored stage serves through its own names: counters agree with the jobs
    assert queries.get_stats(queries.GLOBAL_SCOPE)["total"] == len(original["jobs_table"])


def test_restore_refuses_a_non_empty_stage(filled_stage: Settings, tmp_path: Path) -> None:
    backup.export(tmp_path / "bk", filled_stage)
    with pytest.raises(backup.BackupError, match="the stage is not empty"):
        backup.restore(tmp_path / "bk", filled_stage)
    before = snapshot(filled_stage)
    backup.restore(tmp_path / "bk", filled_stage, allow_non_empty=True)  # same data: unchanged
    assert snapshot(filled_stage) == before


def test_restore_refuses_a_damaged_backup_before_writing(filled_stage: Settings, copy_stage: Any, tmp_path: Path) -> None:
    root = tmp_path / "bk"
    backup.export(root, filled_stage)
    blob = next(p for p in (root / "blobs").rglob("*") if p.is_file())
    blob.write_bytes(blob.read_bytes() + b"tampered")
    copy_settings = copy_stage()
    with pytest.raises(backup.BackupError, match="missing or damaged"):
        backup.restore(root, copy_settings, create_missing=True)
    assert not [n for n in aws.client("dynamodb").list_tables()["TableNames"] if n.startswith("amr-copy")]
    manifest = json.loads((root / backup.MANIFEST).read_text())
    manifest["tables"]["jobs_table"]["items"] += 1
    (root / backup.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError):
        backup.verify(root)


def test_restore_needs_the_stage_deployed(filled_stage: Settings, copy_stage: Any, tmp_path: Path) -> None:
    backup.export(tmp_path / "bk", filled_stage)
    with pytest.raises(backup.BackupError, match="deploy it first"):
        backup.restore(tmp_path / "bk", copy_stage())


def test_export_refuses_a_non_empty_directory(filled_stage: Settings, tmp_path: Path) -> None:
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "keep.txt").write_text("x")
    with pytest.raises(backup.BackupError, match="not empty"):
        backup.export(tmp_path / "bk", filled_stage)

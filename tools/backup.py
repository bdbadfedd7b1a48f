"""Export a whole stage to a directory, and restore it from there (design §16).

    python -m tools.backup export DIR
    python -m tools.backup restore DIR [--allow-non-empty] [--create-missing]
    python -m tools.backup verify DIR

Works on the stage the usual settings name (`tools.stage`): the running local stack or
AWS. The directory holds

    manifest.json               counts, sizes and SHA-256 of every file below
    tables/<table>.jsonl.gz     every item, one DynamoDB-JSON item a line
    objects/<bucket>.jsonl.gz   every object: key, SHA-256, size, content headers,
                                user metadata, tags, storage class
    blobs/<ab>/<sha256>         object bytes, stored once per content

Tables and buckets are named by their role (`jobs_table`, `results_bucket`, ...), so an
export restores into a stage with other names. Everything streams: items page by page,
objects chunk by chunk, so a stage larger than memory works. Restore first verifies
every checksum and count and validates every item and object key (`tools/restore_checks.py`),
refuses a stage that holds anything (unless
`--allow-non-empty`), then writes items with BatchWriteItem and objects with their
metadata, tags and storage class.

An export reads tables with Scan: this is operator tooling, not the service, and a
whole-table copy is what Scan is for. It is not a point-in-time snapshot of a stage that
is being written to; stop traffic first, or use DynamoDB point-in-time recovery and S3
versioning in AWS (docs/operations.md).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from chalicelib.core import clock, tables
from chalicelib.core.settings import Settings
from local.files import store_blob
from tools import restore_checks, stage

FORMAT = 1
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024
BATCH = 25
#: get_object response fields kept with an object; put parameters of the same names.
HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")


class BackupError(SystemExit):
    """A refused or failed export/restore; the message says why."""


# --- DynamoDB JSON lines ------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _json_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and isinstance(obj.get("$b64"), str):
        return base64.b64decode(obj["$b64"])
    return obj


def dump_line(item: dict[str, Any]) -> str:
    return json.dumps(item, default=_json_default, sort_keys=True, separators=(",", ":")) + "\n"


def load_line(line: str) -> dict[str, Any]:
    return json.loads(line, object_hook=_json_hook)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield load_line(line)


# --- export -------------------------------------------------------------------------------


@dataclass
class Summary:
    """What an export or restore did, per table and bucket, for the report."""

    action: str
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"{'table / bucket':<34}{'items / objects':>16}{'bytes':>14}  sha256 (of the file)"]
        for role, entry in {**self.tables, **self.buckets}.items():
            count = entry.get("items", entry.get("objects", 0))
            size = f"{entry['bytes']:,}" if "bytes" in entry else ""
            lines.append(
                f"{entry['name'] + ' (' + role + ')':<34}{count:>16,}{size:>14}  {entry.get('sha256', '')[:16]}"
            )
        lines.append(f"{self.action}: {self.seconds:.1f} s")
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


def _blob_path(root: Path, digest: str) -> Path:
    return root / "blobs" / digest[:2] / digest


def _scan(table: str) -> Iterator[dict[str, Any]]:
    paginator = stage.dynamodb().get_paginator("scan")
    for page in paginator.paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def _list(bucket: str) -> Iterator[dict[str, Any]]:
    for page in stage.s3().get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from page.get("Contents", [])


def _export_table(root: Path, role: str, name: str) -> dict[str, Any]:
    path = root / "tables" / f"{role}.jsonl.gz"
    items = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for item in _scan(name):
            out.write(dump_line(item))
            items += 1
    return {"name": name, "file": str(path.relative_to(root)), "items": items, "sha256": sha256_file(path)}


def _export_object(root: Path, bucket: str, key: str) -> dict[str, Any]:
    s3 = stage.s3()
    response = s3.get_object(Bucket=bucket, Key=key)
    digest, size = store_blob(root / "blobs", response["Body"].iter_chunks(CHUNK))
    tags = s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
    entry: dict[str, Any] = {
        "key": key,
        "sha256": digest,
        "size": size,
        "metadata": response.get("Metadata", {}),
        "tags": {t["Key"]: t["Value"] for t in tags},
        "storage_class": response.get("StorageClass") or "STANDARD",
    }
    entry.update({h: response[h] for h in HEADERS if response.get(h)})
    return entry


def _export_bucket(root: Path, role: str, name: str, summary: Summary) -> dict[str, Any]:
    path = root / "objects" / f"{role}.jsonl.gz"
    objects = size = 0
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for listed in _list(name):
            try:
                entry = _export_object(root, name, listed["Key"])
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("NoSuchKey", "404"):
                    continue  # deleted since it was listed
                summary.problems.append(f"s3://{name}/{listed['Key']} not exported: {code}")
                continue
            out.write(dump_line(entry))
            objects += 1
            size += entry["size"]
    return {
        "name": name,
        "file": str(path.relative_to(root)),
        "objects": objects,
        "bytes": size,
        "sha256": sha256_file(path),
    }


def export(root: Path, settings: Settings) -> Summary:
    """Write every item and object of the stage into `root` (new or empty)."""
    if root.exists() and any(root.iterdir()):
        raise BackupError(f"{root} is not empty; export into a new directory")
    started = time.perf_counter()
    for sub in ("tables", "objects", "blobs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    summary = Summary("export")
    for role, name in stage.table_names(settings).items():
        summary.tables[role] = _export_table(root, role, name)
    for role, name in stage.bucket_names(settings).items():
        summary.buckets[role] = _export_bucket(root, role, name, summary)
    summary.seconds = time.perf_counter() - started
    manifest = {
        "format": FORMAT,
        "created_at": clock.now_iso(),
        "stage": settings.stage,
        "tables": summary.tables,
        "buckets": summary.buckets,
        "complete": not summary.problems,
        "problems": summary.problems,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return summary


# --- verify -------------------------------------------------------------------------------


def load_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{root / MANIFEST}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{root / MANIFEST}: not a backup of format {FORMAT}")
    return manifest


def verify(root: Path) -> dict[str, Any]:
    """Check every file, count and blob against the manifest; BackupError on the first
    mismatch, so a damaged backup is refused before anything is written."""
    manifest = load_manifest(root)
    for kind, count_field in (("tables", "items"), ("buckets", "objects")):
        for role, entry in manifest[kind].items():
            if not restore_checks.inside(root, entry.get("file")):
                raise BackupError(f"manifest: {kind} {role} names a file outside the backup directory")
            path = root / entry["file"]
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                raise BackupError(f"{entry['file']}: missing or its checksum does not match the manifest")
            seen = 0
            for line in read_lines(path):
                seen += 1
                check = restore_checks.entry_problem if kind == "buckets" else restore_checks.item_problem
                problem = check(role, line)
                if problem:  # refused before anything is written (design §23)
                    raise BackupError(f"{entry['file']}, line {seen}: {problem}")
                if kind == "buckets":
                    _verify_blob(root, entry["name"], line)
            if seen != entry[count_field]:
                raise BackupError(f"{entry['file']}: {seen} {count_field}, the manifest says {entry[count_field]}")
    return manifest


def _verify_blob(root: Path, bucket: str, entry: dict[str, Any]) -> None:
    blob = _blob_path(root, entry["sha256"])
    if not blob.is_file() or blob.stat().st_size != entry["size"] or sha256_file(blob) != entry["sha256"]:
        raise BackupError(
            f"s3://{bucket}/{entry['key']}: its bytes are missing or damaged in {blob.parent.name}/{blob.name}"
        )


# --- restore ------------------------------------------------------------------------------


def _table_exists(name: str) -> bool:
    try:
        stage.dynamodb().describe_table(TableName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


def _bucket_exists(name: str) -> bool:
    try:
        stage.s3().head_bucket(Bucket=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise
    return True


def prepare_target(settings: Settings, *, create_missing: bool) -> None:
    """Every table and bucket of the stage must exist; `create_missing` creates them
    (for the local emulator; in AWS the stage's stack owns them)."""
    missing_tables = [n for n in stage.table_names(settings).values() if not _table_exists(n)]
    missing_buckets = [n for n in stage.bucket_names(settings).values() if not _bucket_exists(n)]
    if not (missing_tables or missing_buckets):
        return
    if not create_missing:
        raise BackupError(
            f"the stage lacks {', '.join(missing_tables + missing_buckets)}; deploy it first "
            "(or pass --create-missing for the local emulator)"
        )
    tables.create_tables(wait=True)
    for name in missing_buckets:
        stage.s3().create_bucket(Bucket=name)


def non_empty(settings: Settings) -> list[str]:
    """Tables and buckets of the stage that hold anything (one small read each)."""
    found = [
        n
        for n in stage.table_names(settings).values()
        if stage.dynamodb().scan(TableName=n, Limit=1, Select="COUNT").get("Count")
    ]
    found += [
        n
        for n in stage.bucket_names(settings).values()
        if stage.s3().list_objects_v2(Bucket=n, MaxKeys=1).get("KeyCount")
    ]
    return found


def _write_items(table: str, items: list[dict[str, Any]]) -> None:
    requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items]}
    for attempt in range(10):
        response = stage.dynamodb().batch_write_item(RequestItems=requests)
        requests = response.get("UnprocessedItems") or {}
        if not requests:
            return
        time.sleep(min(2.0, 0.05 * 2**attempt))  # throttled: back off as DynamoDB asks
    raise BackupError(f"{table}: DynamoDB kept refusing writes; run the restore again with --allow-non-empty")


def _restore_table(root: Path, entry: dict[str, Any], name: str) -> int:
    written, batch = 0, []
    for item in read_lines(root / entry["file"]):
        batch.append(item)
        if len(batch) == BATCH:
            _write_items(name, batch)
            written, batch = written + len(batch), []
    if batch:
        _write_items(name, batch)
        written += len(batch)
    return written


def _restore_bucket(root: Path, entry: dict[str, Any], name: str) -> tuple[int, int]:
    objects = size = 0
    for obj in read_lines(root / entry["file"]):
        extra: dict[str, Any] = {h: obj[h] for h in HEADERS if obj.get(h)}
        if obj.get("metadata"):
            extra["Metadata"] = obj["metadata"]
        if obj.get("tags"):
            extra["Tagging"] = urlencode(obj["tags"])
        if obj.get("storage_class", "STANDARD") != "STANDARD":
            extra["StorageClass"] = obj["storage_class"]
        stage.s3().upload_file(str(_blob_path(root, obj["sha256"])), name, obj["key"], ExtraArgs=extra)
        objects, size = objects + 1, size + obj["size"]
    return objects, size


def restore(root: Path, settings: Settings, *, allow_non_empty: bool = False, create_missing: bool = False) -> Summary:
    """Verify the backup, check the stage, then write every item and object into it."""
    started = time.perf_counter()
    manifest = verify(root)
    prepare_target(settings, create_missing=create_missing)
    occupied = non_empty(settings)
    if occupied and not allow_non_empty:
        raise BackupError(
            f"the stage is not empty ({', '.join(occupied)}); restore into an empty stage, or pass "
            "--allow-non-empty to write over items and objects with the same keys"
        )
    summary = Summary("restore")
    targets = {**stage.table_names(settings), **stage.bucket_names(settings)}
    for role, entry in manifest["tables"].items():
        if role not in targets:
            summary.problems.append(f"table {entry['name']} ({role}) is not part of this service any more; skipped")
            continue
        items = _restore_table(root, entry, targets[role])
        summary.tables[role] = {"name": targets[role], "items": items, "sha256": entry["sha256"]}
    for role, entry in manifest["buckets"].items():
        if role not in targets:
            summary.problems.append(f"bucket {entry['name']} ({role}) is not part of this service any more; skipped")
            continue
        objects, size = _restore_bucket(root, entry, targets[role])
        summary.buckets[role] = {"name": targets[role], "objects": objects, "bytes": size, "sha256": entry["sha256"]}
    summary.seconds = time.perf_counter() - started
    return summary


# --- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.backup", description="Export or restore a whole stage.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("export", help="write every item and object of the stage into DIR").add_argument(
        "dir", type=Path
    )
    restore_cmd = commands.add_parser("restore", help="load DIR into the stage (an empty one by default)")
    restore_cmd.add_argument("dir", type=Path)
    restore_cmd.add_argument("--allow-non-empty", action="store_true", help="write into a stage that holds data")
    restore_cmd.add_argument(
        "--create-missing", action="store_true", help="create missing tables and buckets (local emulator)"
    )
    commands.add_parser("verify", help="check DIR's files and checksums against its manifest").add_argument(
        "dir", type=Path
    )
    args = parser.parse_args(argv)
    if args.command == "verify":
        manifest = verify(args.dir)
        print(
            f"{args.dir}: every file, count and checksum matches the manifest "
            f"({manifest['created_at']}, stage {manifest['stage']})"
        )
        return 0
    settings = stage.connect()
    print(f"{args.command} {args.dir} <-> {stage.describe(settings)}")
    if args.command == "export":
        summary = export(args.dir, settings)
    else:
        summary = restore(args.dir, settings, allow_non_empty=args.allow_non_empty, create_missing=args.create_missing)
    print(summary.render())
    return 1 if summary.problems else 0


if __name__ == "__main__":
    sys.exit(main())

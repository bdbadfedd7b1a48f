"""What a restore accepts from a backup directory, checked before anything is written (design §23).

A backup is a directory anyone could have edited: its manifest names files, its lines
are DynamoDB items and object entries. A checksum proves only that the files match the
manifest, not that they are the service's data. Before a restore writes, every item and
object entry passes these checks, and the first one that fails names table or bucket,
line and problem:

- manifest files and blobs stay inside the backup directory (no `..`, no absolute path);
- an item has its table's key attributes as strings, and fits DynamoDB's 400 KB;
- job items: a known status, and every object key they name under that job's own prefix
  (`uploads/{user}/{job}/`, `results/{user}/{job}/`, `archive/{user}/{job}/`, or the
  owner's `inbox/`), so a restored job cannot point at another user's files;
- user items: a known role;
- object keys: under the prefixes the bucket holds, no `..` segment, no control
  characters, at most 1024 bytes; a known storage class; string metadata and tags.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from chalicelib.core import tables

MAX_ITEM_BYTES = 400 * 1024
MAX_KEY_BYTES = 1024
STATUSES = frozenset(tables.STATUSES)
ROLES = frozenset({"user", "admin"})
PREFIXES = {"upload_bucket": ("uploads/", "inbox/"), "results_bucket": ("results/",), "archive_bucket": ("archive/",)}
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
        "REDUCED_REDUNDANCY",
    }
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def inside(root: Path, relative: str) -> bool:
    """`relative` names a file inside `root` (the manifest's own paths)."""
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
        return False
    resolved = (root / relative).resolve()
    return resolved.is_relative_to(root.resolve())


def _string(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) and isinstance(value.get("S"), str) else None


def object_key_problem(key: Any, bucket_role: str) -> str | None:
    """Why `key` may not be restored into the bucket of `bucket_role`, or None."""
    if not isinstance(key, str) or not key:
        return "object key is not a string"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return "object key longer than 1024 bytes"
    if _CONTROL.search(key):
        return "object key contains control characters"
    if key.startswith("/") or ".." in key.split("/"):
        return f"object key {key[:100]!r} leaves its prefix"
    allowed = PREFIXES.get(bucket_role, ())
    if not key.startswith(allowed):
        return f"object key {key[:100]!r} is not under {', '.join(allowed)}"
    return None


def item_problem(table_role: str, item: Any) -> str | None:
    """Why `item` (DynamoDB JSON) may not be restored into the table of `table_role`, or None."""
    if not isinstance(item, dict):
        return "not a DynamoDB item"
    model = tables.TABLES.get(table_role)
    if model is not None:
        for key in (model._hash_keyname, model._range_keyname):
            if key and _string(item, key) is None:
                return f"key attribute {key!r} missing or not a string"
    if len(json.dumps(item, default=str)) > MAX_ITEM_BYTES:
        return "item larger than DynamoDB's 400 KB"
    if table_role == "jobs_table":
        return _job_problem(item)
    if table_role == "users_table":
        role = _string(item, "role")
        if "role" in item and role not in ROLES:
            return f"unknown role {str(role)[:20]!r}"
    return None


def _job_problem(item: dict[str, Any]) -> str | None:
    status = _string(item, "status")
    if status not in STATUSES:
        return f"unknown job status {str(status)[:20]!r}"
    user, job = _string(item, "user_id"), _string(item, "job_id")
    if not user or "/" in user or not job or "/" in job:
        return "job without a plain user_id and job_id"
    own = tuple(f"{p}{user}/{job}/" for p in ("uploads/", "results/", "archive/"))
    keys: list[str] = []
    for name in ("input_key", "mate_key"):
        value = _string(item, name)
        if value is not None:
            keys.append(value)
    for name in ("result_keys", "archive_keys"):
        value = item.get(name)
        if isinstance(value, dict):
            keys += [v.get("S") for v in value.get("L", []) if isinstance(v, dict)] + list(value.get("SS", []))
    for key in keys:
        if not isinstance(key, str) or ".." in key.split("/"):
            return f"job names an object key outside its own prefix ({str(key)[:100]!r})"
        if not (key.startswith(own) or key.startswith("inbox/")):
            return f"job names an object key outside its own prefix ({key[:100]!r})"
    return None


def entry_problem(bucket_role: str, entry: Any) -> str | None:
    """Why an object entry of the backup may not be restored, or None."""
    if not isinstance(entry, dict):
        return "not an object entry"
    problem = object_key_problem(entry.get("key"), bucket_role)
    if problem:
        return problem
    if not isinstance(entry.get("sha256"), str) or not _HEX64.match(entry["sha256"]):
        return "sha256 is not 64 hex digits"
    if not isinstance(entry.get("size"), int) or entry["size"] < 0:
        return "size is not a byte count"
    if entry.get("storage_class", "STANDARD") not in STORAGE_CLASSES:
        return f"unknown storage class {str(entry.get('storage_class'))[:30]!r}"
    for name in ("metadata", "tags"):
        value = entry.get(name) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return f"{name} must map strings to strings"
    return None

"""Durable local state: snapshots of the emulator's tables and objects, and their restore.

The emulator keeps everything in memory, so the stack exports it to the state directory:
- `snapshot.json` — every item of every table (DynamoDB JSON), a manifest of every object
  (content hash, size, ETag, content headers, user metadata, tags, storage class) and the
  upload events already delivered; replaced atomically (temporary file + fsync + rename);
- `blobs/xx/<sha256>` — object bytes, content-addressed, written before the snapshot that
  names them, so a snapshot never points at a missing blob.
A snapshot is taken every few seconds when the emulator saw a state-changing request, and
once more at shutdown after everything has stopped. Restore (at start, before anything is
served) writes items and objects back through the ordinary APIs.

Within one snapshot the delivered-events list is read first, then tables, then objects,
so after a hard kill every delivered event's effects are in the tables, and an object
whose event was not yet delivered is delivered again (at least once, as in S3).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from local.emulator import Changes, ChangeTracker
from local.files import atomic_write_json, read_json, store_blob

log = logging.getLogger("local.state")

SNAPSHOT_FILE = "snapshot.json"
BLOB_DIR = "blobs"
FORMAT = 1
_CHUNK = 1024 * 1024
#: get_object response fields kept with an object, and the put_object parameter each restores.
_HEADERS = {
    "ContentType": "ContentType",
    "ContentEncoding": "ContentEncoding",
    "ContentDisposition": "ContentDisposition",
    "ContentLanguage": "ContentLanguage",
    "CacheControl": "CacheControl",
}

Deliveries = dict[str, dict[str, str]]  # bucket -> key -> ETag whose created-event was handled


def _encode(value: Any) -> Any:
    """DynamoDB JSON → JSON: binary values become {"$b64": ...}."""
    if isinstance(value, (bytes, bytearray)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$b64"), str):
            return base64.b64decode(value["$b64"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


@dataclass
class Restored:
    items: int = 0
    objects: int = 0
    #: objects whose created-event had not been delivered when the snapshot was taken
    undelivered: list[tuple[str, str, int, str]] = field(default_factory=list)  # bucket, key, size, etag
    #: objects whose created-event had been handled, keyed to their restored ETags
    delivered: Deliveries = field(default_factory=dict)
    saved_at: str | None = None


class StateStore:
    """Snapshots the emulator into `state_dir` and restores it from there."""

    def __init__(
        self,
        state_dir: Path,
        dynamodb: Any,
        s3: Any,
        tables: list[str],
        buckets: list[str],
        tracker: ChangeTracker,
        deliveries: Callable[[], Deliveries],
    ) -> None:
        self.state_dir = state_dir
        self._ddb = dynamodb
        self._s3 = s3
        self._tables = tables
        self._buckets = buckets
        self._tracker = tracker
        self._deliveries = deliveries
        self._lock = threading.Lock()  # one snapshot at a time
        self._items: dict[str, list[Any]] = {}
        self._manifest: dict[str, dict[str, dict[str, Any]]] = {b: {} for b in buckets}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.saves = 0

    @property
    def snapshot_path(self) -> Path:
        return self.state_dir / SNAPSHOT_FILE

    def _blob_path(self, digest: str) -> Path:
        return self.state_dir / BLOB_DIR / digest[:2] / digest

    # ----------------------------------------------------------------- restore

    def restore(self) -> Restored:
        """Write the last snapshot back into the (empty) emulator; call before serving."""
        snapshot = read_json(self.snapshot_path)
        if snapshot is None:
            return Restored()
        if snapshot.get("format") != FORMAT:
            raise SystemExit(f"{self.snapshot_path} has an unknown format; move it away to start empty")
        result = Restored(saved_at=snapshot.get("saved_at"))
        for table, items in snapshot.get("tables", {}).items():
            if table not in self._tables:
                log.warning("snapshot has table %s, which the app no longer defines; skipped", table)
                continue
            result.items += self._put_items(table, [_decode(i) for i in items])
            self._items[table] = items
        delivered: Deliveries = snapshot.get("deliveries", {})
        for bucket, objects in snapshot.get("objects", {}).items():
            if bucket not in self._buckets:
                log.warning("snapshot has bucket %s, which the stack no longer serves; skipped", bucket)
                continue
            for key, entry in objects.items():
                new_etag = self._put_object(bucket, key, entry)
                if new_etag is None:
                    continue
                result.objects += 1
                if delivered.get(bucket, {}).get(key) == entry["etag"]:
                    result.delivered.setdefault(bucket, {})[key] = new_etag  # ETags can change (multipart)
                else:
                    result.undelivered.append((bucket, key, entry["size"], new_etag))
                entry = {**entry, "etag": new_etag}
                self._manifest[bucket][key] = entry
        self._prime_manifest()
        self._remove_unreferenced_blobs()
        return result

    def _put_items(self, table: str, items: list[dict[str, Any]]) -> int:
        for start in range(0, len(items), 25):
            requests = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
            while requests:
                response = self._ddb.batch_write_item(RequestItems=requests)
                requests = response.get("UnprocessedItems") or {}
        return len(items)

    def _put_object(self, bucket: str, key: str, entry: dict[str, Any]) -> str | None:
        blob = self._blob_path(entry["sha256"])
        if not blob.exists():
            log.error("blob of s3://%s/%s is missing from the state directory; object not restored", bucket, key)
            return None
        extra: dict[str, Any] = {param: entry[field] for field, param in _HEADERS.items() if entry.get(field)}
        if entry.get("metadata"):
            extra["Metadata"] = entry["metadata"]
        if entry.get("tags"):
            extra["Tagging"] = urlencode(entry["tags"])
        if entry.get("storage_class") and entry["storage_class"] != "STANDARD":
            extra["StorageClass"] = entry["storage_class"]
        with blob.open("rb") as body:
            response = self._s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
        return str(response["ETag"])

    def _prime_manifest(self) -> None:
        """Adopt the restored objects' new LastModified so the first save does not re-read them."""
        for bucket in self._buckets:
            for obj in self._list(bucket):
                entry = self._manifest[bucket].get(obj["Key"])
                if entry is not None and entry["etag"] == obj["ETag"]:
                    entry["last_modified"] = obj["LastModified"].isoformat()
        self._tracker.take()  # the restore's own writes are already accounted for
        self._tracker.give_back(Changes(tables=True))

    # -------------------------------------------------------------------- save

    def save(self) -> bool:
        """Snapshot whatever changed since the last save; True if a snapshot was written."""
        with self._lock:
            changes = self._tracker.take()
            if not (changes.tables or changes.objects):
                return False
            try:
                self._save(changes)
            except BaseException:
                self._tracker.give_back(changes)
                raise
            self.saves += 1
            return True

    def _save(self, changes: Changes) -> None:
        deliveries = {b: dict(keys) for b, keys in self._deliveries().items()}  # first: see module doc
        if changes.tables:
            self._items = {table: [_encode(i) for i in self._scan(table)] for table in self._tables}
        before = {e["sha256"] for objs in self._manifest.values() for e in objs.values()}
        if changes.objects:
            touched = self._touched(changes.paths)
            for bucket in self._buckets:
                self._manifest[bucket] = self._refresh_bucket(bucket, touched)
        snapshot = {
            "format": FORMAT,
            "saved_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tables": self._items,
            "objects": self._manifest,
            "deliveries": {
                b: {k: etag for k, etag in keys.items() if k in self._manifest.get(b, {})}
                for b, keys in deliveries.items()
            },
        }
        atomic_write_json(self.snapshot_path, snapshot, mode=0o600)
        after = {e["sha256"] for objs in self._manifest.values() for e in objs.values()}
        for digest in before - after:  # safe now: the snapshot on disk no longer names them
            self._blob_path(digest).unlink(missing_ok=True)

    def _scan(self, table: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in self._ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            items.extend(page.get("Items", []))
        return items

    def _list(self, bucket: str) -> list[dict[str, Any]]:
        objects: list[dict[str, Any]] = []
        try:
            for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                objects.extend(page.get("Contents", []))
        except self._s3.exceptions.NoSuchBucket:
            log.warning("bucket %s is gone; its objects are no longer kept", bucket)
        return objects

    def _touched(self, paths: set[str]) -> set[tuple[str, str]]:
        """(bucket, key) pairs written since the last save, path-style or virtual-hosted."""
        out: set[tuple[str, str]] = set()
        for entry in paths:
            host, _, path = entry.partition("|")
            hostname = host.split(":")[0]
            bucket = next((b for b in self._buckets if hostname.startswith(b + ".")), None)
            if bucket is not None:
                out.add((bucket, path.lstrip("/")))
            else:
                first, _, rest = path.lstrip("/").partition("/")
                out.add((first, rest))
        return out

    def _refresh_bucket(self, bucket: str, touched: set[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        old = self._manifest.get(bucket, {})
        new: dict[str, dict[str, Any]] = {}
        for obj in self._list(bucket):
            key = obj["Key"]
            entry = old.get(key)
            modified = obj["LastModified"].isoformat()
            if (
                entry
                and entry["etag"] == obj["ETag"]
                and entry["last_modified"] == modified
                and (bucket, key) not in touched
            ):
                new[key] = entry
                continue
            fresh = self._fetch(bucket, key, modified)
            if fresh is not None:
                new[key] = fresh
            elif entry is not None:
                new[key] = entry  # unreadable right now: keep what we had
        return new

    def _fetch(self, bucket: str, key: str, modified: str) -> dict[str, Any] | None:
        """Read one object's bytes into the blob store, with its headers and tags."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
            tags = self._s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                return None  # deleted meanwhile; the next listing agrees
            log.warning("cannot snapshot s3://%s/%s: %s", bucket, key, code)
            return None
        digest, size = self._store_blob(response["Body"])
        entry: dict[str, Any] = {
            "sha256": digest,
            "size": size,
            "etag": response["ETag"],
            "last_modified": modified,
            "metadata": response.get("Metadata", {}),
            "tags": {t["Key"]: t["Value"] for t in tags},
            "storage_class": response.get("StorageClass", "STANDARD"),
        }
        entry.update({field: response[field] for field in _HEADERS if response.get(field)})
        return entry

    def _store_blob(self, body: Any) -> tuple[str, int]:
        """Stream a body into the blob store; returns (sha256, size)."""
        return store_blob(self.state_dir / BLOB_DIR, body.iter_chunks(_CHUNK))

    def _remove_unreferenced_blobs(self) -> None:
        """Drop blobs no snapshot names (left by a crash between blob write and snapshot)."""
        root = self.state_dir / BLOB_DIR
        if not root.exists():
            return
        keep = {e["sha256"] for objs in self._manifest.values() for e in objs.values()}
        for path in root.glob("*/*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for path in root.glob(".blob.*"):
            path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- periodic

    def start(self, interval: float) -> None:
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.save()
            except Exception:
                log.exception("periodic snapshot failed; will retry")

"""The AWS emulator: moto's server app, served in-process on a werkzeug thread.

In-process (rather than a `moto_server` child) so a crash of the stack can never leave an
orphan emulator holding the port. A thin WSGI layer notes which requests change state, so
the snapshotter knows when (and which objects) to save without polling every object.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from moto.moto_server import werkzeug_app
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger("local.emulator")

#: DynamoDB operations that change nothing; any other DynamoDB call marks tables dirty.
DYNAMODB_READS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "TransactGetItems",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "DescribeContinuousBackups",
        "ListTagsOfResource",
        "DescribeEndpoints",
        "DescribeLimits",
    }
)
_S3_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE"})

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Changes:
    """What changed in the emulator since the snapshotter last looked."""

    tables: bool = False
    objects: bool = False
    paths: set[str] = field(default_factory=set)


class ChangeTracker:
    """Thread-safe record of state-changing requests (WSGI middleware around moto)."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._changes = Changes(tables=True, objects=True)  # first snapshot sees everything

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self._note(environ)
        return self._app(environ, start_response)

    def _note(self, environ: dict[str, Any]) -> None:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        with self._lock:
            if target.startswith("DynamoDB_"):
                if target.rsplit(".", 1)[-1] not in DYNAMODB_READS:
                    self._changes.tables = True
            elif not target and method in _S3_WRITE_METHODS and not _is_query_protocol(environ):
                # S3 (the only REST-XML service the stack uses). Keys are recorded as
                # `host|path` so virtual-hosted and path-style requests can both be resolved.
                self._changes.objects = True
                self._changes.paths.add(f"{environ.get('HTTP_HOST', '')}|{unquote(environ.get('PATH_INFO', ''))}")

    def take(self) -> Changes:
        """Return and reset the changes seen so far."""
        with self._lock:
            changes, self._changes = self._changes, Changes()
        return changes

    def give_back(self, changes: Changes) -> None:
        """Re-mark changes a failed snapshot could not save, so the next one retries them."""
        with self._lock:
            self._changes.tables |= changes.tables
            self._changes.objects |= changes.objects
            self._changes.paths |= changes.paths


def _is_query_protocol(environ: dict[str, Any]) -> bool:
    """Old-style form-encoded calls (SQS/STS query API) are POSTs to `/` with `Action=`."""
    content_type = environ.get("CONTENT_TYPE", "")
    return environ.get("PATH_INFO", "/") == "/" and content_type.startswith("application/x-www-form-urlencoded")


class BrowserPostCors:
    """WSGI layer adding S3's CORS answer to a browser's presigned POST.

    S3 answers an object POST from a web page with `Access-Control-Allow-Origin` when a
    CORS rule of the bucket allows that origin and method; moto 5.2 sends CORS headers
    on GET/PUT/HEAD/DELETE and preflights but not on this POST, so the browser would
    refuse to read the answer of an upload that worked. The rules are the bucket's own
    (`local.stack` sets the upload bucket's), read from moto's backend in this process.
    """

    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        origin = environ.get("HTTP_ORIGIN")
        if not origin or environ.get("REQUEST_METHOD") != "POST" or environ.get("HTTP_X_AMZ_TARGET"):
            return self._app(environ, start_response)
        bucket = unquote(environ.get("PATH_INFO", "")).strip("/").split("/", 1)[0]

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if bucket and not any(k.lower() == "access-control-allow-origin" for k, _ in headers):
                headers = list(headers) + bucket_cors_headers(bucket, origin, "POST")
            return start_response(status, headers, exc_info)

        return self._app(environ, start)


def bucket_cors_headers(bucket_name: str, origin: str, method: str) -> list[tuple[str, str]]:
    """The CORS headers S3 would send for `origin` and `method` under the bucket's rules."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.s3.utils import cors_matches_origin

    try:
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["global"].get_bucket(bucket_name)
    except Exception:  # no such bucket (or not S3 at all): no CORS headers, as S3
        return []
    for rule in bucket.cors:
        if method in (rule.allowed_methods or []) and cors_matches_origin(origin, rule.allowed_origins or []):
            headers = [("Access-Control-Allow-Origin", origin), ("Vary", "Origin")]
            if rule.exposed_headers:
                exposed = rule.exposed_headers
                headers.append(
                    ("Access-Control-Expose-Headers", ", ".join(exposed) if isinstance(exposed, list) else exposed)
                )
            return headers
    return []


#: moto's DynamoDB write operations that DynamoDB applies atomically.
_ATOMIC_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def serialise_writes() -> Callable[[], None]:
    """Make moto apply each DynamoDB write atomically, as DynamoDB does; returns the undo.

    moto checks a write's condition and applies it without a lock, so two racing
    conditional writes (two registrations of one username, two claims of one job, two
    progress updates) could both pass their conditions on the emulator — never in AWS.
    One lock around every conditional write restores DynamoDB's guarantee.
    """
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.put_item, "serialised", False):  # already in place
        return lambda: None
    lock = threading.RLock()
    originals = {name: getattr(DynamoDBBackend, name) for name in _ATOMIC_WRITES}

    def locked(original: Callable[..., Any]) -> Callable[..., Any]:
        def serialised(self: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                return original(self, *args, **kwargs)

        serialised.serialised = True  # type: ignore[attr-defined]
        return serialised

    for name, original in originals.items():
        wrapped = _rollback_by_item(original) if name == "transact_write_items" else original
        setattr(DynamoDBBackend, name, locked(wrapped))

    def undo() -> None:
        for name, original in originals.items():
            setattr(DynamoDBBackend, name, original)

    return undo


def _rollback_by_item(original: Callable[..., Any]) -> Callable[..., Any]:
    """Roll a failed transaction back by the items it touched, not by table copies.

    moto deep-copies a whole table once per item of a transaction to undo it on failure:
    a 100-item transaction against a 20,000-item table took seconds, and an import of
    10,000 jobs would take hours. Only the items a transaction names can change, so this
    keeps a copy of those (taken before moto writes anything), hands moto the live table
    instead of a copy, and on failure puts them back (or deletes the ones that did not
    exist). Runs under the write lock of `serialise_writes`, so nothing interleaves.
    """
    import copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    def no_table_copy(obj: Any, memo: Any = None) -> Any:
        return obj if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    def touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
        out = []
        for entry in transact_items:
            for op_type, op in entry.items():
                table = backend.tables.get(op.get("TableName"))
                if table is None:
                    continue
                if op_type == "Put":
                    attrs = op.get("Item", {})
                    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                    key = {name: attrs[name] for name in names if name in attrs}
                else:
                    key = op.get("Key", {})
                try:
                    current = backend.get_item(op["TableName"], key)
                except Exception:  # an invalid key: moto itself rejects the transaction
                    continue
                out.append((op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
        return out

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        before = touched(self, transact_items)
        # assignment: moto's models module reads `copy.deepcopy`; a namespace stands in for the module
        models.copy = types.SimpleNamespace(deepcopy=no_table_copy)  # type: ignore[assignment]
        try:
            return original(self, transact_items, *args, **kwargs)
        except BaseException:
            for table_name, key, attrs in reversed(before):
                if attrs is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attrs)
            raise
        finally:
            models.copy = copy

    return transact_write_items


class Emulator:
    """moto's full server app on host:port, on a daemon thread."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        # moto's server answers every cross-origin request with `*`; S3 answers by the
        # bucket's CORS rules. Like S3, so a missing rule fails locally too (the web app
        # posts uploads from the API's origin; `local.stack` sets the upload bucket's rules).
        werkzeug_app.DISABLE_GLOBAL_CORS = True
        self.tracker = ChangeTracker(BrowserPostCors(DomainDispatcherApplication(create_backend_app)))
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Bind the port now (so a busy port fails loudly) and serve on a thread."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log per SQS poll
        serialise_writes()
        self._server = make_server(
            self.host, self.port, self.tracker, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        log.info("emulator listening on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the listening socket (frees the port)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

"""Job transitions per second and transaction conflicts with 1, 8 and 32 concurrent writers,
with the statistics counters in one item per scope (before) and sharded (after).

Each writer runs jobs of one user through Submitted -> Running -> Completed with the real
lifecycle code (three transactions per job), as prediction workers of one large batch
would. The store is in-process moto. moto applies transactions one at a time and never
reports a conflict, so this benchmark models DynamoDB's item-level transaction isolation
on top of it: a transaction holds every item it writes for `--window-ms` (20 ms, the order
of a TransactWriteItems call in AWS) from its arrival and returns no sooner; another
transaction that touches a held item meanwhile is cancelled with `TransactionConflict`,
as in DynamoDB. moto's own apply time (it applies one transaction at a time and copies
whole tables for rollback) is kept out of the hold, and the rollback copy is skipped
(no transaction of this workload fails a condition), so the emulator's slowness does
not decide who conflicts. The lifecycle retries those (jittered backoff, 5 attempts); a transition
that still fails is counted as failed.

Besides the measured rate (moto on this machine, not DynamoDB), the table gives the ceiling
the hottest counter item sets in AWS: at about 1,000 writes/s per item, a layout where the
busiest item takes a share `s` of all transitions cannot exceed 1,000 / s transitions/s.

    .venv/bin/python bench/contention.py [--jobs-per-writer N] [--writers 1,8,32]
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import threading
import time
from collections import Counter
from typing import Any, Callable

import benchenv  # noqa: F401  (must precede chalicelib imports)

from moto import mock_aws  # noqa: E402
from moto.dynamodb.exceptions import TransactionCanceledException  # noqa: E402
from moto.dynamodb import models as moto_dynamodb  # noqa: E402
from moto.dynamodb.models import DynamoDBBackend  # noqa: E402
from moto.dynamodb.models.table import Table  # noqa: E402

from chalicelib.core import aws, tables as models  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402
from chalicelib.jobs import counters, lifecycle, queries  # noqa: E402
from local.emulator import serialise_writes  # noqa: E402

ITEM_WRITE_LIMIT = 1000  # DynamoDB writes/s per item (per partition key)


class _NoTableCopy:
    """Stands in for `copy` inside moto's DynamoDB backend: tables are not deep-copied."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value)


class ConflictModel:
    """Items held by in-flight transactions; a second writer of a held item is cancelled."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.lock = threading.Lock()
        self.held: dict[tuple[str, str], float] = {}  # item -> held until (monotonic s)
        self.conflicts = 0
        self.counter_writes: Counter[str] = Counter()

    def install(self) -> Callable[[], None]:
        original = DynamoDBBackend.transact_write_items
        model = self

        def transact(backend: Any, transact_items: list[dict[str, Any]]) -> None:
            keys = [model.key_of(item) for item in transact_items]
            arrival = time.monotonic()
            with model.lock:
                busy = [model.held.get(k, 0.0) > arrival for k in keys]
                if any(busy):
                    model.conflicts += 1
                    raise TransactionCanceledException(
                        [("TransactionConflict", "Transaction is ongoing for the item", None) if b else (None, None, None)
                         for b in busy]
                    )
                model.held.update((k, arrival + model.window) for k in keys)
                for table, key in keys:
                    if table.endswith("-counters"):
                        model.counter_writes[key] += 1
            original(backend, transact_items)
            time.sleep(max(0.0, arrival + model.window - time.monotonic()))  # DynamoDB's latency

        DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
        return lambda: setattr(DynamoDBBackend, "transact_write_items", original)

    @staticmethod
    def key_of(item: dict[str, Any]) -> tuple[str, str]:
        (op,) = item.values()
        key = op.get("Key") or {k: v for k, v in op["Item"].items() if k in ("job_id", "event_key")}
        return op["TableName"], json.dumps(key, sort_keys=True)


def run_case(writers: int, jobs_per_writer: int, shards: int, window: float) -> dict[str, Any]:
    counters.SHARDS = shards
    model = ConflictModel(window)
    undo_model = model.install()
    failed = done = completed = created = 0
    lock = threading.Lock()
    with mock_aws():
        aws.reset_clients()
        models.bind_models(get_settings())
        models.create_tables()
        start = threading.Barrier(writers + 1)

        def writer(n: int) -> None:
            nonlocal failed, done, completed, created
            start.wait()
            for i in range(jobs_per_writer):
                ok = 0
                try:
                    job = lifecycle.create_job(user_id="batch-owner", job_name=f"w{n}-{i}", params={})
                    ok += 1
                    job = lifecycle.transition(job, lifecycle.RUNNING)
                    ok += 1
                    lifecycle.transition(job, lifecycle.COMPLETED)
                    ok += 1
                except Exception:  # noqa: BLE001 - a transition that exhausted its retries
                    pass
                with lock:
                    done += ok
                    failed += ok < 3
                    completed += ok == 3
                    created += ok >= 1

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
        for t in threads:
            t.start()
        start.wait()
        began = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - began
        stats = queries.get_stats(queries.GLOBAL_SCOPE)
    undo_model()
    hottest = max(model.counter_writes.values()) if model.counter_writes else 0
    attempted = sum(model.counter_writes.values()) // 2  # each transition writes two counter items
    return {
        "writers": writers,
        "shards": shards,
        "transitions": done,
        "per_second": done / seconds if seconds else 0.0,
        "conflicts": model.conflicts,
        "failed": failed,
        "hottest_share": hottest / attempted if attempted else 0.0,
        "exact": stats["by_status"]["Completed"] == completed and stats["total"] == created,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-per-writer", type=int, default=6)
    parser.add_argument("--writers", default="1,8,32")
    parser.add_argument("--window-ms", type=float, default=20.0)
    args = parser.parse_args()
    undo = serialise_writes()
    moto_dynamodb.copy = _NoTableCopy  # type: ignore[attr-defined]
    default_shards = counters.SHARDS
    rows = []
    try:
        for writers in [int(w) for w in args.writers.split(",")]:
            for label, shards in (("before: 1 item/scope", 1), (f"after: {default_shards} shards", default_shards)):
                with contextlib.redirect_stdout(io.StringIO()):  # metric lines of the lifecycle
                    rows.append((label, run_case(writers, args.jobs_per_writer, shards, args.window_ms / 1000)))
    finally:
        counters.SHARDS = default_shards
        undo()
    print(f"{'layout':<22}{'writers':>8}{'transitions':>12}{'per s':>8}{'conflicts':>10}{'failed':>8}"
          f"{'hottest item':>14}{'AWS ceiling/s':>15}  stats exact")
    for label, r in rows:
        ceiling = ITEM_WRITE_LIMIT / r["hottest_share"] if r["hottest_share"] else float("inf")
        print(f"{label:<22}{r['writers']:>8}{r['transitions']:>12}{r['per_second']:>8.1f}{r['conflicts']:>10}"
              f"{r['failed']:>8}{r['hottest_share']:>13.0%}{ceiling:>15,.0f}  {'yes' if r['exact'] else 'NO'}")
    print(f"conflict window {args.window_ms:g} ms; {args.jobs_per_writer} jobs (3 transitions each) per writer, one user")
    print("transitions: committed; failed: transitions still refused after 5 attempts (the job stays where it was); "
          "per s: moto in-process on this machine (shared cores), not DynamoDB; conflicts: transactions "
          "cancelled under the item-isolation model and retried; hottest item: share of all transitions "
          f"that wrote the busiest counter item; AWS ceiling: {ITEM_WRITE_LIMIT} writes/s per item / that share.")


if __name__ == "__main__":
    main()

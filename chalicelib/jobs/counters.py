"""Statistics counters, sharded so that no item is written by every job (design §17).

A DynamoDB item takes about 1,000 writes/s, and two transactions that touch one item at
once conflict. One `global` item written by every transition would cap the whole
service's job throughput and make concurrent transitions collide. Instead each scope
(`global`, `user#{id}`) is split into `SHARDS` items `{scope}#{nn}`, and a job always
counts in the shard its id hashes to: transitions of different jobs spread over the
shards, while every count of one job lands in one item (so no shard ever shows a job
leaving a status it never entered there).

A job of a batch (design §13) also counts in its batch's scope (`batch#{id}`), in the same
transaction, so a batch's counts are exact under concurrent completions and no batch item
is hot while hundreds of its jobs finish at once.

Reading a scope is one BatchGetItem of its shards (plus the unsharded item older
versions wrote, so existing totals stay exact): a bounded, fixed number of reads.

Everything that changes a count goes through `add_in` (inside a lifecycle transaction)
or `add` (outside one, e.g. importing jobs): the one place that knows the item layout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.core.tables import CounterModel

#: Shards per scope. More shards: fewer conflicts, more items per read (BatchGetItem
#: takes up to 100 keys). Changing it is safe only upwards from the last value used,
#: since reads sum shards 0..SHARDS-1.
SHARDS = 16
GLOBAL_SCOPE = "global"
#: Per-status counters and lifetime totals summed by `read`.
FIELDS = (
    "n_submitted",
    "n_running",
    "n_completed",
    "n_error",
    "n_archived",
    "n_cancelled",
    "created_total",
    "completed_total",
    "error_total",
    "cancelled_total",
    "duration_sum",
    "duration_count",
    "model_resfinder",
)


def user_scope(user_id: str) -> str:
    return f"user#{user_id}"


def batch_scope(batch_id: str) -> str:
    return f"batch#{batch_id}"


def shard_of(job_id: str) -> int:
    """A stable shard for a job (any id, not only UUIDs)."""
    return int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=4).digest(), "big") % SHARDS


def shard_key(scope: str, shard: int) -> str:
    return f"{scope}#{shard:02d}"


def _items(user_id: str, job_id: str, batch_id: str | None) -> list[CounterModel]:
    shard = shard_of(job_id)
    scopes = [GLOBAL_SCOPE, user_scope(user_id)] + ([batch_scope(batch_id)] if batch_id else [])
    return [CounterModel(shard_key(scope, shard)) for scope in scopes]


def add_in(tx: TransactWrite, *, user_id: str, job_id: str, actions: list[Any], batch_id: str | None = None) -> None:
    """Count a job's change in the same transaction as the change (global, the user's
    and, for a job of a batch, the batch's)."""
    for item in _items(user_id, job_id, batch_id):
        tx.update(item, actions=actions)


def add(*, user_id: str, job_id: str, actions: list[Any], batch_id: str | None = None) -> None:
    """Count outside a transaction (e.g. jobs imported from elsewhere): one UpdateItem
    per scope."""
    for item in _items(user_id, job_id, batch_id):
        item.update(actions=actions)


def keys(scope: str) -> list[str]:
    """Every item holding counts of `scope`: its shards and the pre-sharding item."""
    return [shard_key(scope, n) for n in range(SHARDS)] + [scope]


def read(scope: str) -> dict[str, float]:
    """Totals of one scope: one BatchGetItem (strongly consistent) over `keys(scope)`."""
    return read_many([scope])[scope]


def read_many(scopes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Totals of several scopes (a page of batches): BatchGetItems of 100 keys, so
    ceil(17 × scopes / 100) calls. Besides the FIELDS sums, `first_started_at` is the
    earliest and `last_changed_at` the latest over the shards (None when never set)."""
    scopes = list(dict.fromkeys(scopes))
    owner = {key: scope for scope in scopes for key in keys(scope)}
    out: dict[str, dict[str, Any]] = {
        scope: {**{name: 0.0 for name in FIELDS}, "first_started_at": None, "last_changed_at": None} for scope in scopes
    }
    items: Iterable[CounterModel] = CounterModel.batch_get(list(owner), consistent_read=True)
    for item in items:
        totals = out[owner[item.scope]]
        for name in FIELDS:
            totals[name] += float(getattr(item, name) or 0)
        for name, pick in (("first_started_at", min), ("last_changed_at", max)):
            value = getattr(item, name)
            if value:
                totals[name] = pick(totals[name], value) if totals[name] else value
    return out


STATUS_FIELDS = FIELDS[:6]


def forget_in(tx: TransactWrite, scope: str) -> None:
    """Delete every counter item of a scope (a batch being removed) inside `tx`, on the
    condition that no job is counted in it any more: a job that joins (or is counted) at
    the same moment makes the whole transaction fail instead of losing its count."""
    condition = None
    for name in STATUS_FIELDS:
        attr = getattr(CounterModel, name)
        idle = attr.does_not_exist() | (attr == 0)
        condition = idle if condition is None else condition & idle
    for key in keys(scope):
        tx.delete(CounterModel(key), condition=condition)

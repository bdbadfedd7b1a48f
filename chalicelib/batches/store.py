"""Batch records (design §13): the one place that knows the batches table.

A batch item holds what does not change as its jobs move (name, parameters, origin);
the counts by status are the batch's scope in the sharded counters, updated in every
job transition's own transaction (`chalicelib.jobs.counters`). So reading a batch is a
GetItem plus one BatchGetItem, and a batch is never a hot item.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib.core import clock, pagination
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import Conflict, InvalidTransition, NotFound
from chalicelib.core.tables import STATUSES, BatchModel
from chalicelib.jobs import counters, queries, transactions

API, INBOX = "api", "inbox"
#: Namespace of inbox batch ids: uuid5(namespace, "{user_id}/{folder}") — fixed forever,
#: so every drop into one folder finds its batch without a lookup.
INBOX_NAMESPACE = uuid.UUID("5d0f3c1e-8c7a-4e9b-9a51-1b2f8e6d4c33")


def new_batch_id() -> str:
    return str(uuid.uuid4())


def inbox_batch_id(user_id: str, folder: str) -> str:
    return str(uuid.uuid5(INBOX_NAMESPACE, f"{user_id}/{folder}"))


def scope(batch_id: str) -> str:
    return counters.batch_scope(batch_id)


@storage_call("create_batch")
def create(
    *,
    user_id: str,
    batch_name: str,
    params: dict[str, Any],
    batch_id: str | None = None,
    source: str = API,
    folder: str | None = None,
) -> BatchModel:
    """Write a new batch record; an existing `batch_id` is Conflict (idempotent creation)."""
    ts = clock.now_iso()
    batch = BatchModel(
        batch_id or new_batch_id(),
        user_id=user_id,
        batch_name=batch_name,
        created_at=ts,
        updated_at=ts,
        params=params,
        source=source,
        folder=folder,
    )
    try:
        batch.save(condition=BatchModel.batch_id.does_not_exist())
    except PutError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(f"Batch {batch.batch_id} already exists") from None
        raise
    return batch


def ensure_inbox_batch(user_id: str, folder: str, params: dict[str, Any]) -> BatchModel:
    """The batch that drops into `inbox/{username}/{folder}/` form or join; the first drop
    creates it (with its parameters), later ones find it."""
    batch_id = inbox_batch_id(user_id, folder)
    try:
        return create(user_id=user_id, batch_name=folder, params=params, batch_id=batch_id, source=INBOX, folder=folder)
    except Conflict:
        return get(batch_id)


@storage_call("get_batch")
def get(batch_id: str) -> BatchModel:
    try:
        return BatchModel.get(batch_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("Batch not found") from None


def get_for(batch_id: str, user_id: str, is_admin: bool = False) -> BatchModel:
    """The batch if the caller may see it; someone else's batch is NotFound."""
    batch = get(batch_id)
    if batch.user_id != user_id and not is_admin:
        raise NotFound("Batch not found")
    return batch


@storage_call("list_batches")
def list_for_user(user_id: str, limit: int = 20, next_token: str | None = None) -> queries.Page:
    """A user's batches newest first; one Query per page."""
    page_scope = f"batches:{user_id}"
    result = BatchModel.user_created_index.query(
        user_id,
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=pagination.decode(next_token, page_scope),
    )
    items = list(itertools.islice(result, limit))
    return queries.Page(items, pagination.encode(result.last_evaluated_key, page_scope))


@storage_call("batch_counts")
def totals(batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Counter totals of each batch: ceil(17 × batches / 100) BatchGetItems."""
    read = counters.read_many(scope(b) for b in batch_ids)
    return {b: read[scope(b)] for b in batch_ids}


def counts_of(total: dict[str, Any]) -> dict[str, int]:
    return {status: int(total[f"n_{status.lower()}"]) for status in STATUSES}


@storage_call("cancel_batch")
def mark_cancelled(batch: BatchModel) -> BatchModel:
    ts = clock.now_iso()
    batch.update(actions=[BatchModel.cancelled_at.set(ts), BatchModel.updated_at.set(ts)])
    return batch


@storage_call("remove_batch")
def remove_if_empty(batch_id: str) -> bool:
    """Delete a batch record and its counters if no job is in it any more; one
    transaction, refused (False) when a job is still, or just became, part of it."""
    try:
        _remove(batch_id)
    except InvalidTransition:
        return False
    return True


def _remove(batch_id: str) -> None:
    def build(tx: TransactWrite) -> None:
        tx.delete(BatchModel(batch_id))
        counters.forget_in(tx, scope(batch_id))

    transactions.run_transaction(build, f"Batch {batch_id} still has jobs")


@storage_call("mark_batch_finished")
def mark_finished(batch_id: str, total: int, finished_at: str) -> bool:
    """Record that the batch's `total` jobs have all ended (design §22). Conditional, so of
    the notifiers that see the last jobs end at once exactly one writes it (and the
    batches stream then announces `batch.finished` once); a batch that gains jobs later
    finishes again with its new total."""
    attr = BatchModel.finished_total
    try:
        BatchModel(batch_id).update(
            actions=[BatchModel.finished_at.set(finished_at), attr.set(total)],
            condition=BatchModel.batch_id.exists() & (attr.does_not_exist() | (attr != total)),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True

"""Handlers of the batches routes (design §13): validate, act, shape the answer.

A batch that is not the caller's is 404, as for jobs; administrators see every batch.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Request, Response

from chalicelib.batches import actions, matrix, reports, store
from chalicelib.batches.schemas import (
    MAX_BATCH_BODY_BYTES,
    BatchListQuery,
    CreateBatchRequest,
    MatrixQuery,
)
from chalicelib.core import clock, web
from chalicelib.core.observability import bind
from chalicelib.core.tables import BatchModel, plain
from chalicelib.jobs import api as jobs_api
from chalicelib.jobs import lifecycle, quotas
from chalicelib.jobs.schemas import JobParams

ACTIVE = (lifecycle.SUBMITTED, lifecycle.RUNNING)
ENDED = (lifecycle.COMPLETED, lifecycle.ERROR, lifecycle.ARCHIVED, lifecycle.CANCELLED)


# --- representation ---------------------------------------------------------


def _status(batch: BatchModel, counts: dict[str, int]) -> str:
    active = sum(counts[s] for s in ACTIVE)
    if not active:
        cancelled = batch.cancelled_at and counts[lifecycle.CANCELLED]
        return "Cancelled" if cancelled else "Finished"  # cancelling a finished batch changes nothing
    return "Running" if active < sum(counts.values()) or counts[lifecycle.RUNNING] else "Submitted"


def _timing(batch: BatchModel, total: dict[str, Any], finished: bool) -> dict[str, Any]:
    started, last = total["first_started_at"], total["last_changed_at"]
    finished_at = last if finished and started else None
    end = clock.parse_iso(finished_at) if finished_at else clock.now()
    elapsed = round(max(0.0, (end - clock.parse_iso(started)).total_seconds()), 3) if started else None
    count = total["duration_count"]
    return {
        "created_at": batch.created_at,
        "started_at": started,
        "finished_at": finished_at,
        "elapsed_seconds": elapsed,
        "job_seconds_total": round(total["duration_sum"], 3),
        "job_seconds_mean": round(total["duration_sum"] / count, 3) if count else None,
    }


def batch_out(batch: BatchModel, total: dict[str, Any]) -> dict[str, Any]:
    counts = store.counts_of(total)
    size = sum(counts.values())
    done = sum(counts[s] for s in ENDED)
    status = _status(batch, counts)
    return {
        "batch_id": batch.batch_id,
        "batch_name": batch.batch_name,
        "user_id": batch.user_id,
        "created_at": batch.created_at,
        "updated_at": batch.updated_at,
        "params": plain(batch.params) or {},
        "source": batch.source,
        "folder": batch.folder,
        "total": size,
        "counts": counts,
        "progress": round(100.0 * done / size, 2) if size else 0.0,
        "status": status,
        "cancelled_at": batch.cancelled_at,
        "timing": _timing(batch, total, status in ("Finished", "Cancelled")),
    }


def _shown(batch: BatchModel) -> dict[str, Any]:
    return batch_out(batch, store.totals([batch.batch_id])[batch.batch_id])


def _batch_for_caller(batch_id: str) -> BatchModel:
    batch_id = web.path_uuid(batch_id, "Batch")
    bind(batch_id=batch_id)
    current = web.caller()
    return store.get_for(batch_id, current.user_id, current.is_admin)


def _by(caller: web.Caller) -> str:
    return caller.username or caller.user_id


# --- routes -----------------------------------------------------------------


def create_batch(request: Request) -> Response:
    """The batch record, then every sample's job and presigned POST, a few dozen jobs per
    transaction. The record comes first so no job ever names a missing batch."""
    current = web.caller()
    body: CreateBatchRequest = web.parse_body(request, CreateBatchRequest, MAX_BATCH_BODY_BYTES)
    params = (body.params or JobParams()).to_store()
    quotas.admit(current.user_id, len(body.samples), role=current.role)
    batch = store.create(user_id=current.user_id, batch_name=body.batch_name, params=params)
    bind(batch_id=batch.batch_id)
    opened = [
        jobs_api.submission(
            current.user_id,
            sample.name,
            params,
            sample.filename,
            mate_filename=sample.mate_filename,
            batch_id=batch.batch_id,
            batch_index=index,
        )
        for index, sample in enumerate(body.samples)
    ]
    lifecycle.create_jobs([job for job, _ in opened])
    return web.json_response({"batch": _shown(batch), "jobs": [answer for _, answer in opened]}, 201)


def list_batches(request: Request) -> Response:
    current = web.caller()
    query: BatchListQuery = web.parse_query(request, BatchListQuery)
    page = store.list_for_user(current.user_id, query.limit, query.next_token)
    totals = store.totals([b.batch_id for b in page.items]) if page.items else {}
    return web.json_response(
        {"batches": [batch_out(b, totals[b.batch_id]) for b in page.items], "next_token": page.next_token}
    )


def get_batch(batch_id: str) -> Response:
    return web.json_response(_shown(_batch_for_caller(batch_id)))


def cancel_batch(batch_id: str) -> Response:
    batch = _batch_for_caller(batch_id)
    actions.cancel(batch, _by(web.caller()))
    return web.json_response(_shown(batch), 202)


def delete_batch(batch_id: str) -> Response:
    actions.delete(_batch_for_caller(batch_id))
    return web.no_content()


def batch_matrix(batch_id: str, request: Request) -> Response:
    batch = _batch_for_caller(batch_id)
    query: MatrixQuery = web.parse_query(request, MatrixQuery)
    if query.format == "xlsx":
        return reports.workbook_response(batch, request)
    table = matrix.build(batch)
    if query.format == "json":
        return web.json_response(table)
    return Response(
        body=matrix.to_tsv(table),
        status_code=200,
        headers={
            "Content-Type": "text/tab-separated-values; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{reports.file_stem(batch)}-matrix.tsv"',
        },
    )

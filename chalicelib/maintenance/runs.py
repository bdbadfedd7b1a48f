"""Maintenance runs requested by administrators, executed asynchronously (design §17).

`POST /admin/maintenance` records a `queued` run and invokes the `maintenance_run`
function asynchronously (`chalicelib.core.invoke`), then answers 202 with the run id:
API Gateway ends a request at 29 s, a run over many jobs takes longer. The function
claims the run (`queued` → `running`, conditional, so a duplicated invocation runs it
once), runs the tasks and stores the report (`finished`) or the error (`failed`).
`GET /admin/maintenance/{run_id}` reads the record.

A run whose function was killed (Lambda's 15-minute limit) stays `running`; Lambda
retries the event, and a retry may claim a run that has been `running` longer than
`STALE_AFTER`, so a killed run is finished by its retry instead of hanging forever.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any, Literal

from chalice.app import Request, Response
from pydantic import BaseModel, Field
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, observability, web
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import NotFound, ServiceError
from chalicelib.core.invoke import invoke_async
from chalicelib.core.observability import logger
from chalicelib.core.tables import MaintenanceRunModel
from chalicelib.maintenance import tasks
from chalicelib.maintenance.tasks import MaintenanceReport, Task

RunStatus = Literal["queued", "running", "finished", "failed"]
FUNCTION = "maintenance_run"
KEEP_FOR = timedelta(days=30)
#: Longer than Lambda's 15-minute limit: a run `running` for this long was killed.
STALE_AFTER = timedelta(minutes=16)


class RunAccepted(BaseModel):
    """`POST /admin/maintenance` → 202: the run is queued; follow it at `location`."""

    run_id: str = Field(json_schema_extra={"format": "uuid"})
    status: RunStatus
    location: str = Field(description="GET this path for the run's status and report")


class RunOut(BaseModel):
    """`GET /admin/maintenance/{run_id}`: the run and, once finished, its report."""

    run_id: str = Field(json_schema_extra={"format": "uuid"})
    status: RunStatus
    tasks: list[Task]
    dry_run: bool
    requested_by: str
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    report: MaintenanceReport | None = Field(None, description="Present once finished")
    error: str | None = Field(None, description="Why a failed run failed")


def run_out(run: MaintenanceRunModel) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "status": run.status,
        "tasks": list(run.tasks or []),
        "dry_run": bool(run.dry_run),
        "requested_by": run.requested_by,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "report": json.loads(run.report) if run.report else None,
        "error": run.error,
    }


@storage_call("maintenance_run.create")
def _create(run: MaintenanceRunModel) -> None:
    run.save(condition=MaintenanceRunModel.run_id.does_not_exist())


def request_run(task_list: list[tasks.Task], dry_run: bool, requested_by: str) -> MaintenanceRunModel:
    """Record a queued run, then hand it to the maintenance function."""
    now = clock.now()
    run = MaintenanceRunModel(
        str(uuid.uuid4()),
        status="queued",
        tasks=list(task_list),
        dry_run=dry_run,
        requested_by=requested_by,
        created_at=clock.to_iso(now),
        expires_at=now + KEEP_FOR,
    )
    _create(run)
    try:
        invoke_async(FUNCTION, {"run_id": run.run_id})
    except ServiceError as exc:  # never started: say so on the record, then answer the error
        _finish(run, "failed", None, exc.message)
        raise
    logger.info("maintenance run queued", extra={"run_id": run.run_id, "tasks": run.tasks, "dry_run": dry_run})
    return run


@storage_call("maintenance_run.get")
def get_run(run_id: str) -> MaintenanceRunModel:
    try:
        return MaintenanceRunModel.get(run_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound("Maintenance run not found") from None


@storage_call("maintenance_run.claim")
def _claim(run: MaintenanceRunModel) -> bool:
    """`queued` (or killed long ago) → `running`; False if another invocation has it."""
    now = clock.now()
    stale = clock.to_iso(now - STALE_AFTER)
    try:
        run.update(
            actions=[MaintenanceRunModel.status.set("running"), MaintenanceRunModel.started_at.set(clock.to_iso(now))],
            condition=(MaintenanceRunModel.status == "queued")
            | ((MaintenanceRunModel.status == "running") & (MaintenanceRunModel.started_at < stale)),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


@storage_call("maintenance_run.finish")
def _finish(run: MaintenanceRunModel, status: RunStatus, report: str | None, error: str | None) -> None:
    actions: list[Action] = [
        MaintenanceRunModel.status.set(status),
        MaintenanceRunModel.finished_at.set(clock.now_iso()),
    ]
    actions.append(MaintenanceRunModel.report.set(report) if report else MaintenanceRunModel.report.remove())
    actions.append(MaintenanceRunModel.error.set(error) if error else MaintenanceRunModel.error.remove())
    run.update(actions=actions)


def execute(event: Any, context: Any = None) -> dict[str, Any]:
    """Body of the `maintenance_run` function: claim, run, record. Never raises for a bad
    or duplicated event (Lambda would only retry it); storage failures do raise, so
    Lambda's retry runs it again. It also continues scheduled tasks handed over to it."""
    observability.reset_context()
    try:
        handed_over = tasks.continuation(event, context)
        if handed_over is not None:
            return handed_over
        return _execute(event)
    finally:
        observability.flush()


def _execute(event: Any) -> dict[str, Any]:
    run_id = event.get("run_id") if isinstance(event, dict) else None
    try:
        uuid.UUID(str(run_id))
        run = get_run(str(run_id))
    except (ValueError, NotFound):
        logger.warning("maintenance run event names no run", extra={"event": repr(event)[:200]})
        return {"run_id": run_id, "status": "ignored"}
    if not _claim(run):
        logger.info("maintenance run already claimed", extra={"run_id": run.run_id})
        return {"run_id": run.run_id, "status": "ignored"}
    try:
        task_list = tasks.MaintenanceRequest.model_validate({"tasks": list(run.tasks)}).ordered_tasks()
        report = tasks.run(task_list, dry_run=bool(run.dry_run))
    except Exception as exc:  # noqa: BLE001 - the record must say the run failed
        logger.exception("maintenance run failed", extra={"run_id": run.run_id})
        _finish(run, "failed", None, f"unexpected {type(exc).__name__} (logged)")
        return {"run_id": run.run_id, "status": "failed"}
    _finish(run, "finished", report.model_dump_json(), None)
    return {"run_id": run.run_id, "status": "finished"}


# --- HTTP handlers (admin only) -------------------------------------------------


def handle_request(request: Request) -> Response:
    """`POST /admin/maintenance` → 202 with the run id; the run continues asynchronously."""
    current = web.require_admin()
    body = web.parse_body(request, tasks.MaintenanceRequest)
    run = request_run(body.ordered_tasks(), body.dry_run, current.username or current.user_id)
    location = f"/admin/maintenance/{run.run_id}"
    accepted = RunAccepted(run_id=run.run_id, status="queued", location=location)
    return web.json_response(accepted.model_dump(), 202, {"Location": location})


def handle_get(run_id: str) -> Response:
    """`GET /admin/maintenance/{run_id}`."""
    web.require_admin()
    return web.json_response(run_out(get_run(web.path_uuid(run_id, "Maintenance run"))))

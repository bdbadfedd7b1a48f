"""HTTP handlers of `/account/notifications` (design §22) and their models.

The signing secret is returned only when it is created (the first settings with a
webhook) or rotated; afterwards only its last four characters are shown, as a hint of
which secret is in use.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from chalice.app import Request, Response
from pydantic import Field, field_validator

from chalicelib.core import web
from chalicelib.core.errors import NotFound, ValidationFailed
from chalicelib.core.schemas import QueryModel, RequestModel, ResponseModel
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import NotificationModel
from chalicelib.jobs.schemas import PageToken
from chalicelib.notifications import store, urls

EventName = Literal["job.completed", "job.failed", "batch.finished"]
NO_STORE = {"Cache-Control": "no-store"}


class NotificationSettingsRequest(RequestModel):
    webhook_url: str | None = Field(
        None, max_length=urls.MAX_URL_LENGTH, description="https URL receiving signed POSTs; null: no webhook"
    )
    email: bool = Field(False, description="Email a summary when a batch finishes (event batch.finished)")
    events: list[EventName] = Field(
        default_factory=lambda: cast(list[EventName], list(store.EVENTS)),
        max_length=3,
        description="Events to send (default: all)",
    )

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class NotificationSettingsOut(ResponseModel):
    webhook_url: str | None
    email: bool
    events: list[str]
    secret: str | None = Field(None, description="The signing secret: only in the answer that created it")
    secret_hint: str | None = Field(None, description="Last four characters of the current secret")
    previous_secret_expires_at: str | None = Field(
        None, description="Until then the previous secret signs too (after a rotation)"
    )
    signature_header: str = Field(description="Name of the signature header")
    created_at: str
    updated_at: str | None


class AttemptOut(ResponseModel):
    at: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(ResponseModel):
    event_id: str
    event_type: str
    channel: Literal["webhook", "email"]
    target: str
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: str | None
    created_at: str
    delivered_at: str | None
    attempt_log: list[AttemptOut]


class DeliveryList(ResponseModel):
    deliveries: list[DeliveryOut]
    next_token: str | None


class DeliveryQuery(QueryModel):
    limit: int = Field(20, ge=1, le=100)
    next_token: PageToken | None = None


def settings_out(item: NotificationModel | None, secret: str | None = None) -> dict[str, Any]:
    from chalicelib.notifications import signing

    if item is None:
        return {
            "webhook_url": None,
            "email": False,
            "events": list(store.EVENTS),
            "secret": None,
            "secret_hint": None,
            "previous_secret_expires_at": None,
            "signature_header": signing.HEADER,
            "created_at": "",
            "updated_at": None,
        }
    return {
        "webhook_url": item.webhook_url,
        "email": bool(item.email),
        "events": list(item.events or []),
        "secret": secret,
        "secret_hint": f"…{str(item.secret)[-4:]}" if item.secret else None,
        "previous_secret_expires_at": item.previous_secret_expires_at if store.secrets_in_use(item)[1:] else None,
        "signature_header": signing.HEADER,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def delivery_out(item: NotificationModel) -> dict[str, Any]:
    log = [dict(a.as_dict() if hasattr(a, "as_dict") else a) for a in (item.attempt_log or [])]
    attempts = [
        {
            "at": str(a.get("at")),
            "attempt": int(a.get("attempt") or 0),
            "status_code": int(a["status_code"]) if a.get("status_code") is not None else None,
            "error": a.get("error"),
            "duration_ms": int(a.get("duration_ms") or 0),
        }
        for a in log
    ]
    last = attempts[-1] if attempts else {}
    return {
        "event_id": item.event_id,
        "event_type": item.event_type,
        "channel": item.channel,
        "target": item.target,
        "status": item.status,
        "attempts": int(item.attempts or 0),
        "last_status_code": last.get("status_code"),
        "last_error": last.get("error"),
        "next_attempt_at": item.next_attempt_at,
        "created_at": item.created_at,
        "delivered_at": item.delivered_at,
        "attempt_log": attempts,
    }


def get_settings_route() -> Response:
    return web.json_response(settings_out(store.get_settings(web.caller().user_id)), headers=NO_STORE)


def put_settings_route(request: Request) -> Response:
    body: NotificationSettingsRequest = web.parse_body(request, NotificationSettingsRequest)
    url = body.webhook_url.strip() if body.webhook_url else None
    if url:
        try:
            urls.check(url, allow_loopback=get_settings().is_local)
        except urls.UnsafeURL as exc:
            raise ValidationFailed(str(exc), details=[{"field": "webhook_url", "problem": str(exc)}]) from None
    item, secret = store.put_settings(web.caller().user_id, webhook_url=url, email=body.email, events=list(body.events))
    return web.json_response(settings_out(item, secret), headers=NO_STORE)


def rotate_secret_route() -> Response:
    rotated = store.rotate_secret(web.caller().user_id)
    if rotated is None:
        raise NotFound("No notification settings yet: PUT /account/notifications first")
    item, secret = rotated
    return web.json_response(settings_out(item, secret), headers=NO_STORE)


def deliveries_route(request: Request) -> Response:
    query: DeliveryQuery = web.parse_query(request, DeliveryQuery)
    items, token = store.list_deliveries(web.caller().user_id, query.limit, query.next_token)
    return web.json_response({"deliveries": [delivery_out(i) for i in items], "next_token": token})

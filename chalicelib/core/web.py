"""What every route handler shares: the caller, JSON bodies in, JSON responses out.

The gateway middleware (`chalicelib.gateway.middleware`) authenticates the request and
binds its caller here; handlers read it with `caller()`. Errors raised as
`chalicelib.core.errors.ServiceError` become the one error format there.
"""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from chalice.app import Request, Response

from chalicelib.core.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceError,
    UnsupportedMediaType,
    ValidationFailed,
)

if TYPE_CHECKING:  # pydantic loads with the first validated request, not at cold start
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str
    username: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def bind_caller(current: Caller | None) -> None:
    """Set by the gateway middleware once per request (None on public routes)."""
    _caller.set(current)


def caller() -> Caller:
    """The authenticated caller of the current request (set by the middleware)."""
    current = _caller.get()
    if current is None:  # a public route asked for a caller: a wiring bug, not a client error
        raise RuntimeError("no authenticated caller on this route")
    return current


def require_admin() -> Caller:
    current = caller()
    if not current.is_admin:
        raise Forbidden("This route is for administrators")
    return current


def header(request: Request, name: str) -> str | None:
    """A request header by name (any case); Chalice leaves `headers` None on some events."""
    headers = request.headers
    return None if headers is None else headers.get(name)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str | list[str]] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str, ensure_ascii=False) if body is not None else "",
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> Response:
    return Response(body="", status_code=204, headers={})


def error_response(exc: ServiceError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


def parse_body(request: Request, model: type[M], max_bytes: int = MAX_BODY_BYTES) -> M:
    """Validate a JSON body against `model`; every problem is a 4xx naming the field."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'")
    body = request.raw_body or b""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise BadRequest(f"Body is larger than {max_bytes} bytes")
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: absurd nesting
        raise BadRequest("Body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("Body must be a JSON object")
    return validate(model, data)


def parse_query(request: Request, model: type[M]) -> M:
    params = dict(request.query_params or {})
    return validate(model, params)


def validate(model: type[M], data: dict[str, Any]) -> M:
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "Invalid request: " + "; ".join(_describe(e) for e in exc.errors()[:10]),
            details=[{"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()[:20]],
        ) from None


def _describe(error: Any) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "body"
    return f"{field}: {error['msg']}"


def path_uuid(value: str, what: str = "Job") -> str:
    """A path id that is not a canonical UUID names nothing: 404, like an unknown id."""
    try:
        parsed = uuid.UUID(value)
    except (ValueError, TypeError):
        raise NotFound(f"{what} not found") from None
    if str(parsed) != value.lower():
        raise NotFound(f"{what} not found")
    return str(parsed)

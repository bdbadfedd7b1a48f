"""HTTP plumbing shared by every route: one error format, body parsing, the caller.

The middleware in `app.py` calls `handle_http` around every request: it binds the
request id to logs, authenticates non-public routes, turns every failure into
`{"error": {"code", "message"}}` and never lets a stack trace out.
"""
from __future__ import annotations

import contextvars
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from chalice.app import Request, Response

from chalicelib import observability
from chalicelib.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    ServiceError,
    UnsupportedMediaType,
    ValidationFailed,
)
from chalicelib.observability import logger

if TYPE_CHECKING:  # pydantic loads with the first validated request, not at cold start
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

#: Routes reachable without a token (SPEC §8).
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/password-reset"),
        ("POST", "/auth/password-reset/confirm"),
    }
)
MAX_BODY_BYTES = 64 * 1024

#: Chalice's own error codes (405, 415, 500 …) mapped to ours.
_CHALICE_CODES = {
    "BadRequestError": "bad_request",
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "NotFoundError": "not_found",
    "InternalServerError": "internal_error",
}


@dataclass(frozen=True)
class Caller:
    user_id: str
    role: str
    username: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


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


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=json.dumps(body, default=str, ensure_ascii=False) if body is not None else "",
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def no_content() -> Response:
    return Response(body="", status_code=204, headers={})


def error_response(exc: ServiceError) -> Response:
    return json_response(exc.body(), exc.status, exc.headers)


def _route_key(request: Request) -> tuple[str, str]:
    return request.method.upper(), request.context.get("resourcePath", request.path)


def _normalise(response: Response) -> Response:
    """Rewrite Chalice's own `{"Code", "Message"}` errors into our error format."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code = _CHALICE_CODES.get(str(body["Code"]), "error")
        message = str(body.get("Message", "Request failed"))
        if response.status_code >= 500:
            message = "An internal error occurred; it has been logged."
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
        return json_response({"error": {"code": code, "message": message}}, response.status_code, headers)
    return response


def handle_http(request: Request, get_response: Callable[[Request], Response]) -> Response:
    observability.reset_context()
    _caller.set(None)
    request_id = request.context.get("requestId") or str(uuid.uuid4())
    observability.bind(request_id=request_id)
    try:
        if _route_key(request) not in PUBLIC_ROUTES:
            from chalicelib.auth import authenticate  # auth pulls in argon2/jwt: only when needed

            current = authenticate(request)
            _caller.set(current)
            observability.bind(user_id=current.user_id)
        response = _normalise(get_response(request))
    except ServiceError as exc:
        if exc.status >= 500:
            logger.warning("request failed", extra={"code": exc.code, "error": exc.message})
        response = error_response(exc)
    finally:
        observability.flush()
    response.headers.setdefault("X-Request-Id", request_id)
    return response


def parse_body(request: Request, model: type[M]) -> M:
    """Validate a JSON body against `model`; every problem is a 4xx naming the field."""
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'")
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"Body is larger than {MAX_BODY_BYTES} bytes")
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

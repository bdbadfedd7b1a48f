"""The HTTP pipeline around every request (wired by `app.py`'s middleware).

It binds the request id to logs, authenticates non-public routes, turns every failure
into the one error format `{"error": {"code", "message"}}` and never lets a stack trace
out. Chalice's own errors (405, 415, ...) are rewritten into that format too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalice.app import Request, Response

from chalicelib.core import observability, web
from chalicelib.core.errors import MethodNotAllowed, ServiceError
from chalicelib.core.observability import logger

#: Routes reachable without a token (design §8).
PUBLIC_ROUTES = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("POST", "/auth/register"),
        ("POST", "/auth/login"),
        ("POST", "/auth/password-reset"),
        ("POST", "/auth/password-reset/confirm"),
        ("GET", "/"),  # the web app: its page and assets hold no data; its API calls carry the token
        ("GET", "/assets/{name}"),
    }
)
#: Chalice's own error codes (405, 415, 500 …) mapped to ours.
_CHALICE_CODES = {
    "BadRequestError": "bad_request",
    "MethodNotAllowedError": "method_not_allowed",
    "UnsupportedMediaType": "unsupported_media_type",
    "NotFoundError": "not_found",
    "InternalServerError": "internal_error",
}


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
        return web.json_response({"error": {"code": code, "message": message}}, response.status_code, headers)
    return response


def _check_method(request: Request, routes: Mapping[str, Mapping[str, Any]]) -> None:
    """An unsupported method (TRACE, CONNECT, PROPFIND, anything) on a known path is 405
    before authentication: it names no operation, so there is nothing to authorise."""
    method, path = _route_key(request)
    allowed = routes.get(path)
    if allowed is not None and method not in allowed:
        raise MethodNotAllowed(f"{method} is not supported on {path}", headers={"Allow": ", ".join(sorted(allowed))})


def handle_http(
    request: Request, get_response: Callable[[Request], Response], routes: Mapping[str, Mapping[str, Any]] | None = None
) -> Response:
    observability.reset_context()
    web.bind_caller(None)
    request_id = request.context.get("requestId") or str(uuid.uuid4())
    observability.bind(request_id=request_id)
    try:
        if routes is not None:
            _check_method(request, routes)
        if _route_key(request) not in PUBLIC_ROUTES:
            from chalicelib.accounts.auth import authenticate  # auth pulls in argon2/jwt: only when needed

            current = authenticate(request)
            web.bind_caller(current)
            observability.bind(user_id=current.user_id)
        response = _normalise(get_response(request))
    except ServiceError as exc:
        if exc.status >= 500:
            logger.warning("request failed", extra={"code": exc.code, "error": exc.message})
        response = web.error_response(exc)
    finally:
        observability.flush()
    response.headers.setdefault("X-Request-Id", request_id)
    return response

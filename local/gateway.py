"""The local API server: Chalice's local gateway, answering every method in JSON.

Chalice's request handler only knows GET, PUT, POST, HEAD, DELETE, PATCH and OPTIONS;
Python's HTTP server answers anything else (TRACE, CONNECT, PROPFIND, a made-up method)
with `501` and an HTML page, and an unknown path gets API Gateway's bare
`403 {"message": "Missing Authentication Token"}`. In AWS the deployed API maps that
gateway response to a JSON 404 in the service's error format (`infra/resources.json`,
`MissingRouteResponse`). This handler does the same locally: every method reaches the
app (which answers 405 for a method its route does not have), and an unknown path is a
404 in the one error format.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalDevServer,
    LocalGatewayException,
    create_local_server,
)

NO_ROUTE = {"error": {"code": "not_found", "message": "No route matches this method and path"}}


class JsonErrorRequestHandler(ChaliceRequestHandler):
    """Chalice's handler with every method routed to the app and JSON for unknown paths."""

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_"):  # BaseHTTPRequestHandler looks up do_<METHOD>
            return self._generic_handle
        raise AttributeError(name)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if isinstance(error, ForbiddenError):  # the gateway found no route for the path
            body = json.dumps(NO_ROUTE).encode()
            headers = {**error.headers, "Content-Type": "application/json"}
            headers.pop("x-amzn-ErrorType", None)
            self._send_http_response(404, headers, body)
            return
        super()._send_error_response(error)


def create_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """`chalice.local.create_local_server`, serving requests with the handler above."""
    server = create_local_server(app, config, host, port)
    server.server.RequestHandlerClass = functools.partial(JsonErrorRequestHandler, app_object=app, config=config)
    return server

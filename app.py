"""AMR prediction job service: wiring only.

Routes, the upload-bucket event and the maintenance schedules are connected here to
functions in `chalicelib/`, which own the behaviour.
"""
from __future__ import annotations

from typing import Callable

from chalice.app import Chalice, Request, Response

from chalicelib import web

app = Chalice(app_name="amr-service")
app.debug = False  # never render stack traces, whatever the stage


@app.middleware("http")
def http_pipeline(event: Request, get_response: Callable[[Request], Response]) -> Response:
    return web.handle_http(event, get_response)


# --- auth routes -------------------------------------------------------------

# --- job routes --------------------------------------------------------------

# --- upload events -----------------------------------------------------------

# --- maintenance -------------------------------------------------------------

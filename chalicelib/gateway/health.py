"""Public health check: can this function reach its table and its upload bucket?

Each check is one cheap control-plane call. A failure is reported, never raised: the
answer is 200 or a 503 naming what is unreachable (in the usual error object too),
so load balancers and people both get a precise verdict and never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError
from chalice.app import Response

from chalicelib.core import aws, web
from chalicelib.core.observability import logger
from chalicelib.core.settings import get_settings

Check = Callable[[], None]


def _dynamodb() -> None:
    aws.client("dynamodb").describe_table(TableName=get_settings().jobs_table)


def _s3() -> None:
    aws.client("s3").head_bucket(Bucket=get_settings().upload_bucket)


CHECKS: dict[str, Check] = {"dynamodb": _dynamodb, "s3": _s3}


def _reason(exc: Exception) -> str:
    """A short, secret-free reason: the AWS error code or the exception class."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def run_checks(checks: dict[str, Check] | None = None) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name, check in (checks or CHECKS).items():
        try:
            check()
            results[name] = {"status": "ok"}
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy, never a 500
            logger.warning("health check failed", extra={"check": name, "error": repr(exc)})
            results[name] = {"status": "error", "detail": f"unreachable ({_reason(exc)})"}
    return results


def health() -> Response:
    checks = run_checks()
    failed = sorted(name for name, result in checks.items() if result["status"] != "ok")
    if not failed:
        return web.json_response({"status": "ok", "checks": checks})
    message = "Storage is unreachable: " + ", ".join(failed)
    body = {
        "status": "unavailable",
        "checks": checks,
        "error": {"code": "storage_unavailable", "message": message, "details": {"unreachable": failed}},
    }
    return web.json_response(body, 503, {"Retry-After": "30"})

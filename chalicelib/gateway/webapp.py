"""The browser app (design §15): its page at `/` and its files at `/assets/{name}`.

The files are plain HTML, CSS and ES modules in `static/` beside this module (data, not
code: nothing is built, nothing is loaded from the internet). Every answer carries a
Content-Security-Policy that allows scripts, styles and images from this service only,
and network requests to this service and to the upload bucket (the browser posts each
file straight to S3 with the presigned POST of its job). Assets are revalidated by ETag
(`Cache-Control: no-cache`, 304 when unchanged), so a new deployment is seen at once.
"""

from __future__ import annotations

import functools
import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chalice.app import Request, Response

from chalicelib.core import web
from chalicelib.core.errors import NotFound
from chalicelib.core.observability import logger

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
#: Placeholder in index.html replaced by the path prefix the API is served under
#: (`/api/` behind API Gateway's stage, `/` locally), so relative URLs resolve.
BASE_PLACEHOLDER = "{{BASE}}"


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str


@functools.lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """Every servable file of `static/` by name (read once per container)."""
    out: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if path.is_file() and content_type:
            body = path.read_text(encoding="utf-8")
            out[path.name] = Asset(body, content_type, '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"')
    return out


@functools.lru_cache(maxsize=1)
def upload_origin() -> str | None:
    """The origin (scheme://host[:port]) the browser posts uploads to: the one in the
    presigned POSTs this service hands out. Signing is local, no request is sent."""
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings

    try:
        url = aws.client("s3").generate_presigned_post(Bucket=get_settings().upload_bucket, Key="uploads/x")["url"]
    except Exception as exc:  # no credentials: the page still works, uploads are refused by the CSP
        logger.warning("cannot derive the upload origin for the CSP", extra={"error": str(exc)})
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy() -> str:
    connect = " ".join(["'self'"] + [o for o in [upload_origin()] if o])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src {connect}",
            "form-action 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _headers(asset: Asset) -> dict[str, str | list[str]]:
    return {
        "Content-Type": asset.content_type,
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "Content-Security-Policy": content_security_policy(),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _base_path(request: Request) -> str:
    """The prefix before the route: '/api/' behind a stage, '/' locally."""
    context = request.context or {}
    path = str(context.get("path") or "/")
    resource = str(context.get("resourcePath") or "/")
    prefix = path[: len(path) - len(resource)] if resource != "/" and path.endswith(resource) else path
    prefix = prefix if prefix.startswith("/") else "/" + prefix
    return prefix if prefix.endswith("/") else prefix + "/"


def _answer(asset: Asset, request: Request, body: str | None = None) -> Response:
    headers = _headers(asset)
    if web.header(request, "if-none-match") == asset.etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(body=asset.body if body is None else body, status_code=200, headers=headers)


def index(request: Request) -> Response:
    """GET /: the page, its relative URLs based at the API's own path."""
    page = assets()[INDEX]
    base = html.escape(_base_path(request), quote=True)
    body = page.body.replace(BASE_PLACEHOLDER, base)
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return _answer(Asset(body, page.content_type, etag), request)


def asset(name: str, request: Request) -> Response:
    """GET /assets/{name}: a file of `static/`; any other name is 404."""
    found = assets().get(name)
    if found is None or name == INDEX:
        raise NotFound("No such asset")
    return _answer(found, request)

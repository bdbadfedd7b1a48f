"""The service's HTTP API through httpx, with its errors turned into `CliError`s.

The service answers every failure as `{"error": {"code", "message"}}`; that message and
code are what the user sees, with the exit status design §14 gives the HTTP status and a
hint for the next step. Transport failures (refused, timed out) are exit 5.
Presigned S3 URLs are called through `storage()` — a client without the bearer token,
which must never travel to S3.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import httpx

from amrcli import __version__
from amrcli.errors import CliError, Exit, exit_for_status

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: Uploads of large genomes: no read deadline while the body is being sent.
TRANSFER_TIMEOUT = httpx.Timeout(30.0, connect=10.0, write=None, read=300.0)
CONNECT_RETRIES = 2
USER_AGENT = f"amr-cli/{__version__}"
LOGIN_HINT = "Run `amr login` to log in again."


def _path(collection: str, item_id: str, action: str) -> str:
    segment = quote(item_id, safe="") if item_id.strip(".") else item_id.replace(".", "%2E")
    return f"/{collection}/{segment}" + (f"/{action}" if action else "")


def job_path(job_id: str, action: str = "") -> str:
    """`/jobs/{id}[/action]` with the id as one path segment: `../auth/me` stays a (missing) job."""
    return _path("jobs", job_id, action)


def batch_path(batch_id: str, action: str = "") -> str:
    """`/batches/{id}[/action]`, the id as one path segment."""
    return _path("batches", batch_id, action)


class ApiError(CliError):
    """An error answer of the service: HTTP status, its code and message."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code})" if code else message, exit_for_status(status, code), _hint(status))
        self.status = status
        self.code = code
        self.service_message = message
        self.retry_after = retry_after


def _hint(status: int) -> str | None:
    if status == 401:
        return LOGIN_HINT
    if status == 404:
        return "Check the id: `amr jobs` lists your jobs."
    if status >= 500:
        return "The service is having trouble; try again in a minute."
    return None


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    return float(raw) if raw.strip().isdigit() else None


def error_from(response: httpx.Response) -> ApiError:
    """The service's `{"error": {...}}`; S3's XML `<Error>`; or the bare status."""
    code, message = "", f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or message)
    elif isinstance(body, dict) and isinstance(body.get("message"), str):  # API Gateway's own answers
        message = body["message"]
    elif response.content.lstrip().startswith(b"<"):
        try:
            root = ElementTree.fromstring(response.content)
            code = root.findtext("Code") or ""
            message = root.findtext("Message") or message
        except ElementTree.ParseError:
            pass
    return ApiError(response.status_code, code, message, _retry_after(response))


def unreachable(url: str, exc: httpx.TransportError) -> CliError:
    reason = type(exc).__name__
    detail = str(exc).strip()
    return CliError(
        f"Cannot reach {url} ({reason}{': ' + detail if detail else ''})",
        Exit.UNAVAILABLE,
        "Is the service running? `make run` starts it locally; `--api URL` or AMR_API_URL choose another.",
    )


def _client(transport: httpx.BaseTransport | None, **kwargs: Any) -> httpx.Client:
    return httpx.Client(
        transport=transport or httpx.HTTPTransport(retries=CONNECT_RETRIES),
        headers={"User-Agent": USER_AGENT},
        **kwargs,
    )


class Api:
    """One service endpoint, optionally with a bearer token."""

    def __init__(self, base_url: str, token: str | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url
        self.token = token
        self._transport = transport
        self._http = _client(transport, base_url=base_url, timeout=TIMEOUT)
        self._storage: httpx.Client | None = None

    def close(self) -> None:
        self._http.close()
        if self._storage is not None:
            self._storage.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, Any] | None,
        authenticated: bool,
        accept: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if authenticated and self.token else {}
        if accept:
            headers["Accept"] = accept
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=query, headers=headers)
        except httpx.TransportError as exc:
            raise unreachable(self.base_url, exc) from None
        if response.status_code >= 400:
            raise error_from(response)
        return response

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        authenticated: bool = True,
    ) -> Any:
        """The decoded JSON answer (None for 204), or an ApiError / unreachable CliError."""
        response = self._request(method, path, json=json, params=params, authenticated=authenticated)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.base_url} answered {method} {path} with something that is not JSON",
                Exit.UNAVAILABLE,
                "Is --api pointing at the AMR service?",
            ) from None

    def pages(self, path: str, key: str, params: Mapping[str, Any], every: bool = True) -> tuple[list[Any], str | None]:
        """The `key` items of a paginated list, following `next_token` (every page, or only
        the first); returns them with the token of the next unread page."""
        items: list[Any] = []
        token: str | None = None
        while True:
            page = self.call("GET", path, params={**params, "next_token": token})
            items.extend(page[key])
            token = page.get("next_token")
            if not (every and token):
                return items, token

    def text(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """A GET whose answer is text (a TSV), as the service wrote it."""
        return self._request("GET", path, json=None, params=params, authenticated=True).text

    def binary(self, path: str, accept: str, params: Mapping[str, Any] | None = None) -> bytes:
        """A GET whose answer is a file (the batch workbook); `accept` names its media type,
        as API Gateway needs to pass a binary body through."""
        return self._request("GET", path, json=None, params=params, authenticated=True, accept=accept).content

    def storage(self) -> httpx.Client:
        """A client for presigned S3 URLs: no base URL, no Authorization header."""
        if self._storage is None:
            self._storage = _client(self._transport, timeout=TRANSFER_TIMEOUT, follow_redirects=True)
        return self._storage

    def download(self, url: str) -> bytes:
        try:
            response = self.storage().get(url)
        except httpx.TransportError as exc:
            raise unreachable(url.split("?", 1)[0], exc) from None
        if response.status_code >= 400:
            raise error_from(response)
        return response.content

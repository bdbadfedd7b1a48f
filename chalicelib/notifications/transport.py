"""One webhook POST, to an address checked by `urls`, with short timeouts and no redirects.

http.client is used directly (not a client library) because the connection must go to
the address that was checked, not to whatever a second DNS lookup returns: the socket is
opened to that address, and for https the TLS handshake still sends the host name (SNI)
and verifies the certificate against it. http.client never follows redirects; a 3xx is
recorded as a failed attempt like any other non-2xx answer.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from chalicelib.notifications.urls import Target

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
#: Of a receiver's answer only this much is read (and kept in the delivery log).
MAX_RESPONSE_BYTES = 1024


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: a status code, or an error and no status."""

    status_code: int | None
    error: str | None
    duration_ms: int
    response: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to `address` while speaking HTTP to `host` (Host header)."""

    def __init__(self, host: str, port: int, address: str) -> None:
        super().__init__(host, port, timeout=READ_TIMEOUT)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), CONNECT_TIMEOUT)
        self.sock.settimeout(READ_TIMEOUT)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to `address`, with SNI and certificate verification for `host`."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=READ_TIMEOUT, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), CONNECT_TIMEOUT)
        raw.settimeout(READ_TIMEOUT)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post(target: Target, address: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to `target` at `address`; never raises for network or HTTP failures."""
    started = time.monotonic()
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPSConnection(target.host, target.port, address, ssl.create_default_context())
    else:
        conn = _PinnedHTTPConnection(target.host, target.port, address)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace")
        status: int | None = response.status
        error = None if 200 <= response.status < 300 else _http_error(response)
    except (OSError, http.client.HTTPException) as exc:
        status, text, error = None, "", _network_error(exc)
    finally:
        conn.close()
    return Outcome(status, error, int((time.monotonic() - started) * 1000), text)


def _http_error(response: http.client.HTTPResponse) -> str:
    if 300 <= response.status < 400:
        return f"HTTP {response.status}: redirect to {response.getheader('Location', '?')} not followed"
    return f"HTTP {response.status} {response.reason}".strip()


def _network_error(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not valid for this host ({exc.verify_message})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]

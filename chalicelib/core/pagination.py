"""Opaque, tamper-proof page tokens.

A token carries DynamoDB's LastEvaluatedKey plus the query it belongs to, signed with an
HMAC; a modified token, or one replayed against another user's or another filter's query,
is rejected instead of silently returning a different page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from chalicelib.core.errors import InvalidToken
from chalicelib.core.keys import derived_key

_PURPOSE = "page-token-v1"
MAX_TOKEN_LENGTH = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(payload: bytes) -> bytes:
    return hmac.new(derived_key(_PURPOSE), payload, hashlib.sha256).digest()[:16]


def encode(last_key: dict[str, Any] | None, scope: str) -> str | None:
    """Token for the page after `last_key` of the query identified by `scope`."""
    if not last_key:
        return None
    payload = json.dumps({"s": scope, "k": last_key}, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(payload)}.{_b64(_mac(payload))}"


def decode(token: str | None, scope: str) -> dict[str, Any] | None:
    """The LastEvaluatedKey inside `token`, or InvalidToken if it is not ours for `scope`."""
    if token is None or token == "":
        return None
    try:
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError("too long")
        body, sig = token.split(".")
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(sig), _mac(payload)):
            raise ValueError("bad signature")
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("next_token is not valid: pass back the token exactly as received") from None
    if data.get("s") != scope or not isinstance(data.get("k"), dict):
        raise InvalidToken("next_token belongs to a different query")
    return data["k"]

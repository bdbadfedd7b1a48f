"""Webhook signatures: HMAC-SHA256 over `{timestamp}.{body}`, as Stripe signs its events.

The header `AMR-Signature: t=<unix seconds>,v1=<hex digest>[,v1=<hex digest>]` carries
the time of signing and one digest per secret in use: right after a rotation the body is
signed with the new and the previous secret (for `ROTATION_GRACE`), so receivers can
switch secrets without dropping a delivery. Signing the timestamp lets receivers refuse
replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

HEADER = "AMR-Signature"
SCHEME = "v1"
SECRET_PREFIX = "whsec_"
#: The previous secret keeps signing (alongside the new one) this long after a rotation.
ROTATION_GRACE = timedelta(hours=24)
#: What receivers should accept as the age of a signature (documented, used by `verify`).
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def digest(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `{timestamp}.{body}` under `secret`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets_in_use: list[str], timestamp: int, body: bytes) -> str:
    """The value of `AMR-Signature` for `body`, signed with every secret in use."""
    parts = [f"t={timestamp}"] + [f"{SCHEME}={digest(s, timestamp, body)}" for s in secrets_in_use]
    return ",".join(parts)


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Receiver side: is one `v1` digest of `header` ours and the timestamp recent?

    This is the function the README shows receivers (it needs only the standard library).
    """
    pairs = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in pairs if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = digest(secret, timestamp, body)
    return any(key == SCHEME and hmac.compare_digest(value, expected) for key, value in pairs)

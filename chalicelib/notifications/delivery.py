"""One delivery attempt and when to try again (design §22).

A failed delivery is retried with growing delays — base, 4×, 16×, ... capped at
`MAX_DELAY` — for `RETRY_WINDOW` after the event, then kept as `failed`. The base is
10 s (`AMR_NOTIFY_RETRY_BASE_SECONDS`), so a receiver that is down is tried after 10 s,
50 s, 3.5 min, 14 min, 57 min, 3.8 h, then every 4 h until a day has passed (12 attempts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core import clock
from chalicelib.core.settings import get_settings
from chalicelib.notifications import signing, store, transport, urls
from chalicelib.notifications.store import DELIVERED, FAILED, RETRYING

RETRY_WINDOW = timedelta(hours=24)
MAX_DELAY = timedelta(hours=4)
USER_AGENT = "amr-service-webhooks/1"


def retry_delay(attempts: int, base_seconds: int | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt (1-based)."""
    base = base_seconds if base_seconds is not None else get_settings().notify_retry_base_seconds
    return min(timedelta(seconds=base * 4 ** max(0, attempts - 1)), MAX_DELAY)


def next_attempt(first_at: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failures, or None when the window is over."""
    when = now + retry_delay(attempts)
    return when if when <= first_at + RETRY_WINDOW else None


def headers(event_id: str, event_type: str, attempt: int, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "AMR-Event-Id": event_id,
        "AMR-Event-Type": event_type,
        "AMR-Delivery-Attempt": str(attempt),
        signing.HEADER: signature,
    }


def attempt_webhook(item: Any, settings_item: Any) -> transport.Outcome:
    """Check the URL again (DNS may have changed), sign and POST once."""
    allow_loopback = get_settings().is_local
    url = str(item.target)
    try:
        target, addresses = urls.check(url, allow_loopback=allow_loopback)
    except urls.UnsafeURL as exc:
        return transport.Outcome(None, f"refused: {exc}", 0)
    body = str(item.payload).encode()
    secrets_now = store.secrets_in_use(settings_item) if settings_item is not None else []
    if not secrets_now:
        return transport.Outcome(None, "no signing secret (notification settings removed)", 0)
    signature = signing.signature_header(secrets_now, int(clock.now().timestamp()), body)
    sent = headers(str(item.event_id), str(item.event_type), int(item.attempts or 0) + 1, signature)
    return transport.post(target, addresses[0], body, sent)


def settle(item: Any, outcome: transport.Outcome) -> str | None:
    """Record an attempt's outcome; returns when to try again (ISO) or None when done."""
    now = clock.now()
    attempts = int(item.attempts or 0) + 1
    log = {
        "at": clock.to_iso(now),
        "attempt": attempts,
        "status_code": outcome.status_code,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.ok:
        store.record_attempt(item, status=DELIVERED, attempt=log, next_attempt_at=None)
        return None
    retry = next_attempt(clock.parse_iso(str(item.created_at)), attempts, now)
    when = clock.to_iso(retry) if retry else None
    store.record_attempt(item, status=RETRYING if when else FAILED, attempt=log, next_attempt_at=when)
    return when

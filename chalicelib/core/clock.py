"""The one clock of the service, injectable so tests never sleep.

Timestamps are ISO-8601 UTC with milliseconds and `Z` (design §5) so they sort as strings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def _system_now() -> datetime:
    return datetime.now(UTC)


_now: Clock = _system_now


def now() -> datetime:
    """Current UTC time from the active clock."""
    return _now()


def set_clock(clock: Clock | None) -> None:
    """Install a clock (tests); None restores the system clock."""
    global _now
    _now = clock or _system_now


def to_iso(moment: datetime) -> str:
    """Format as `2026-11-24T19:12:00.123Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return to_iso(now())


def parse_iso(text: str) -> datetime:
    """Parse a timestamp written by `to_iso` (or any ISO-8601 with offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def iso_before(delta: timedelta) -> str:
    """The timestamp `delta` before now, for age cut-offs in index queries."""
    return to_iso(now() - delta)


class FakeClock:
    """A settable clock for tests and the local scheduler's on-demand runs."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)

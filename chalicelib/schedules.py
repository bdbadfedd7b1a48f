"""Schedule rates of the maintenance functions, derived from the lifecycle policy.

Kept apart from `maintenance` so importing the app (every function's cold start) needs
only the policy, not the maintenance code and its models. Chalice reads the rates at
import time; deployed rules carry the rates of the policy seen at packaging time.
"""
from __future__ import annotations

from chalice.app import Rate

from chalicelib import policy
from chalicelib.errors import ConfigurationError
from chalicelib.observability import logger

MAX_STALLED_CHECK_MINUTES = 5


def _policy_for_schedules() -> policy.Policy:
    """The policy at packaging time; an invalid one falls back to the defaults here so
    the API still imports — the tasks themselves then fail loudly with the reason."""
    try:
        return policy.get_policy()
    except ConfigurationError as exc:
        logger.error("invalid lifecycle policy; schedules use the defaults", extra={"error": exc.message})
        return policy.parse_policy()


def _rate(minutes: int) -> Rate:
    if minutes % (24 * 60) == 0:
        return Rate(minutes // (24 * 60), unit=Rate.DAYS)
    if minutes % 60 == 0:
        return Rate(minutes // 60, unit=Rate.HOURS)
    return Rate(minutes, unit=Rate.MINUTES)


def cleanup_rate_minutes(current: policy.Policy | None = None) -> int:
    """Minutes between purge and archive runs: `cleanup.run_frequency_hours`."""
    current = current or _policy_for_schedules()
    return max(1, round(current.cleanup.run_frequency_hours * 60))


def stalled_rate_minutes(current: policy.Policy | None = None) -> int:
    """Minutes between stalled checks: a quarter of the threshold, at most 5 minutes,
    so a dead job is noticed within stalled_running_minutes + 5."""
    current = current or _policy_for_schedules()
    return max(1, min(MAX_STALLED_CHECK_MINUTES, int(current.stalled_running_minutes // 4)))


def cleanup_rate() -> Rate:
    return _rate(cleanup_rate_minutes())


def stalled_rate() -> Rate:
    return _rate(stalled_rate_minutes())

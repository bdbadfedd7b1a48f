"""Schedule rates of the maintenance functions, derived from the lifecycle policy.

Chalice reads the rates at import time, and deployed rules carry the rates of the
policy seen at packaging time. `make package` therefore writes those rates into the
artifact (`schedule_rates.json`); a deployed function reads two numbers from it instead
of validating the whole policy (pydantic, YAML) in every cold start. Without the file
(local stack, tests) the rates come from the policy itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from chalice.app import Rate

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.observability import logger

MAX_STALLED_CHECK_MINUTES = 5
BAKED_RATES = Path(__file__).with_name("schedule_rates.json")

if TYPE_CHECKING:
    from chalicelib.jobs.policy import Policy


def _policy_for_schedules() -> Policy:
    """The current policy; an invalid one falls back to the defaults here so the API
    still imports — the tasks themselves then fail loudly with the reason."""
    from chalicelib.jobs import policy

    try:
        return policy.get_policy()
    except ConfigurationError as exc:
        logger.error("invalid lifecycle policy; schedules use the defaults", extra={"error": exc.message})
        return policy.parse_policy()


def rates_minutes() -> dict[str, int]:
    """Minutes between runs per task: baked into the artifact, else from the policy."""
    if BAKED_RATES.exists():
        baked = json.loads(BAKED_RATES.read_text())
        return {"stalled": int(baked["stalled"]), "cleanup": int(baked["cleanup"])}
    current = _policy_for_schedules()
    return {"stalled": stalled_rate_minutes(current), "cleanup": cleanup_rate_minutes(current)}


def _rate(minutes: int) -> Rate:
    if minutes % (24 * 60) == 0:
        return Rate(minutes // (24 * 60), unit=Rate.DAYS)
    if minutes % 60 == 0:
        return Rate(minutes // 60, unit=Rate.HOURS)
    return Rate(minutes, unit=Rate.MINUTES)


def cleanup_rate_minutes(current: Policy | None = None) -> int:
    """Minutes between purge and archive runs: `cleanup.run_frequency_hours`."""
    current = current or _policy_for_schedules()
    return max(1, round(current.cleanup.run_frequency_hours * 60))


def stalled_rate_minutes(current: Policy | None = None) -> int:
    """Minutes between stalled checks: a quarter of the threshold, at most 5 minutes,
    so a dead job is noticed within stalled_running_minutes + 5."""
    current = current or _policy_for_schedules()
    return max(1, min(MAX_STALLED_CHECK_MINUTES, int(current.stalled_running_minutes // 4)))


def cleanup_rate() -> Rate:
    return _rate(rates_minutes()["cleanup"])


def stalled_rate() -> Rate:
    return _rate(rates_minutes()["stalled"])

"""Per-user quotas (design §23): concurrent jobs, jobs per day, input bytes per day.

One user must not take the whole service: every new job (API, batch, bucket drop) is
admitted here first, and a refusal is `429` with `Retry-After` and a message naming the
limit. Limits come from the environment (0 switches one off):

| variable | default | counts |
|---|---|---|
| `AMR_QUOTA_CONCURRENT_JOBS` | 100 | the user's jobs `Submitted` or `Running` now |
| `AMR_QUOTA_JOBS_PER_DAY` | 2000 | jobs created since 00:00 UTC |
| `AMR_QUOTA_BYTES_PER_DAY` | 200 GB | input bytes received since 00:00 UTC |

Jobs per day are counted atomically on admission (one conditional ADD on the user's day
item in the counters table), so parallel submissions cannot pass the limit together.
Bytes are known only when an upload arrives: they are counted then, and a user already at
the byte limit is refused new jobs until the next day (the upload that crossed it still
runs). Concurrent jobs are read from the user's status counters (one BatchGetItem); like
any check-then-act, a burst of parallel submissions may pass it by the burst's size.
Administrators are not limited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from chalicelib.core import aws, clock
from chalicelib.core.aws import storage_call
from chalicelib.core.errors import TooManyRequests
from chalicelib.core.settings import get_settings

CONCURRENT_ENV = "AMR_QUOTA_CONCURRENT_JOBS"
JOBS_ENV = "AMR_QUOTA_JOBS_PER_DAY"
BYTES_ENV = "AMR_QUOTA_BYTES_PER_DAY"
DEFAULTS = {CONCURRENT_ENV: 100, JOBS_ENV: 2000, BYTES_ENV: 200 * 10**9}
#: How long a client waits when it has too many jobs at once (jobs finish in minutes).
CONCURRENT_RETRY_SECONDS = 60
#: Day items outlive their day by this much (DynamoDB TTL on `expires_at`).
KEEP_DAYS = 2


@dataclass(frozen=True)
class Limits:
    concurrent_jobs: int
    jobs_per_day: int
    bytes_per_day: int


def _limit(name: str) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else DEFAULTS[name]


def limits() -> Limits:
    """The limits of this container (read each time: tests and operators change them)."""
    return Limits(_limit(CONCURRENT_ENV), _limit(JOBS_ENV), _limit(BYTES_ENV))


def _day(now: datetime) -> str:
    return now.strftime("%Y-%m-%d")


def _until_tomorrow(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


def _key(user_id: str, now: datetime) -> dict[str, dict[str, str]]:
    return {"scope": {"S": f"quota#{user_id}#{_day(now)}"}}


def _refuse(message: str, seconds: int) -> TooManyRequests:
    return TooManyRequests(f"{message}; try again in {seconds} s", headers={"Retry-After": str(seconds)})


@storage_call("quota.read")
def _usage(user_id: str, now: datetime) -> tuple[int, int]:
    item = (
        aws.client("dynamodb")
        .get_item(TableName=get_settings().counters_table, Key=_key(user_id, now), ConsistentRead=True)
        .get("Item", {})
    )
    return int(item.get("jobs", {}).get("N", "0")), int(item.get("bytes", {}).get("N", "0"))


def _active_jobs(user_id: str) -> int:
    from chalicelib.jobs import counters  # the counter layout lives there

    totals = counters.read(counters.user_scope(user_id))
    return int(totals["n_submitted"]) + int(totals["n_running"])


@storage_call("quota.admit")
def _count_jobs(user_id: str, jobs: int, limit: int, now: datetime) -> bool:
    """Add `jobs` to today's count if it stays within `limit` (one conditional ADD)."""
    try:
        aws.client("dynamodb").update_item(
            TableName=get_settings().counters_table,
            Key=_key(user_id, now),
            UpdateExpression="ADD jobs :n SET expires_at = :ttl",
            ConditionExpression="attribute_not_exists(jobs) OR jobs <= :room",
            ExpressionAttributeValues={
                ":n": {"N": str(jobs)},
                ":room": {"N": str(limit - jobs)},
                ":ttl": {"N": str(int((now + timedelta(days=KEEP_DAYS)).timestamp()))},
            },
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def admit(user_id: str, jobs: int = 1, *, role: str = "user") -> None:
    """Count `jobs` new jobs of `user_id` against the quotas, or refuse them all (429)."""
    if role == "admin":
        return
    now = clock.now()
    current = limits()
    if current.jobs_per_day and jobs > current.jobs_per_day:
        raise _refuse(
            f"A request may create at most {current.jobs_per_day} jobs (jobs per day limit)", _until_tomorrow(now)
        )
    if current.concurrent_jobs:
        active = _active_jobs(user_id)
        if active + jobs > current.concurrent_jobs:
            raise _refuse(
                f"Concurrent jobs limit reached: {active} of {current.concurrent_jobs} jobs are Submitted or Running",
                CONCURRENT_RETRY_SECONDS,
            )
    if current.bytes_per_day:
        _, used = _usage(user_id, now)
        if used >= current.bytes_per_day:
            raise _refuse(
                f"Daily input limit reached: {used} of {current.bytes_per_day} bytes received today (UTC)",
                _until_tomorrow(now),
            )
    if current.jobs_per_day and not _count_jobs(user_id, jobs, current.jobs_per_day, now):
        raise _refuse(f"Daily jobs limit reached: {current.jobs_per_day} jobs per day (UTC)", _until_tomorrow(now))


@storage_call("quota.bytes")
def add_bytes(user_id: str, size: int) -> None:
    """Count an arrived input's bytes in today's usage."""
    now = clock.now()
    aws.client("dynamodb").update_item(
        TableName=get_settings().counters_table,
        Key=_key(user_id, now),
        UpdateExpression="ADD #b :n SET expires_at = :ttl",
        ExpressionAttributeNames={"#b": "bytes"},
        ExpressionAttributeValues={
            ":n": {"N": str(max(0, size))},
            ":ttl": {"N": str(int((now + timedelta(days=KEEP_DAYS)).timestamp()))},
        },
    )

"""The lifecycle policy: defaults from `lifecycle_policy.yaml`, overridable by env.

Validated strictly (unknown keys, wrong types and out-of-range values are errors naming
the field) because a typo in a retention policy silently deletes or keeps data.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.core.errors import ConfigurationError
from chalicelib.core.tables import STATUSES

DEFAULT_POLICY_FILE = Path(__file__).with_name("lifecycle_policy.yaml")
StorageClass = Literal["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Retention(_Strict):
    Submitted: float = Field(gt=0)
    Running: float = Field(gt=0)
    Completed: float = Field(gt=0)
    Error: float = Field(gt=0)
    Archived: float = Field(gt=0)
    Cancelled: float = Field(gt=0)

    def days(self, status: str) -> float:
        return float(getattr(self, status))


class Archiving(_Strict):
    enabled: bool
    min_age_days: float = Field(ge=0)
    compress_results: bool
    storage_class: StorageClass


class Cleanup(_Strict):
    enabled: bool
    run_frequency_hours: float = Field(gt=0, le=24 * 7)
    max_jobs_per_run: int = Field(ge=1, le=10_000)


class Policy(_Strict):
    retention_days: Retention
    archiving: Archiving
    cleanup: Cleanup
    stalled_running_minutes: float = Field(gt=0)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"Lifecycle policy {origin} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError(f"Lifecycle policy {origin} must be a mapping, not {type(data).__name__}")
    return data


def parse_policy(override: dict[str, Any] | None = None) -> Policy:
    """Defaults merged with `override`, validated; errors name every bad field."""
    data = _load_yaml(DEFAULT_POLICY_FILE.read_text(), str(DEFAULT_POLICY_FILE.name))
    if override:
        data = _merge(data, override)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigurationError(f"Invalid lifecycle policy: {problems}") from exc


def policy_from_env(environ: dict[str, str] | None = None) -> Policy:
    env = os.environ if environ is None else environ
    override: dict[str, Any] = {}
    path = env.get("AMR_LIFECYCLE_POLICY_FILE", "").strip()
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigurationError(f"Cannot read AMR_LIFECYCLE_POLICY_FILE ({exc.strerror})") from exc
        override = _load_yaml(text, "AMR_LIFECYCLE_POLICY_FILE")
    inline = env.get("AMR_LIFECYCLE_POLICY", "").strip()
    if inline:
        override = _merge(override, _load_yaml(inline, "AMR_LIFECYCLE_POLICY"))
    return parse_policy(override)


#: Days every safety net (S3 lifecycle rule, DynamoDB TTL) waits past the policy's own deadline.
SAFETY_NET_DAYS = 7


def object_expiry_days(current: Policy) -> dict[str, int]:
    """S3 lifecycle expirations (by key prefix) that never delete before the policy does (design §23).

    An input can be referenced by a job for its whole life: Submitted, then Running (the
    stalled check ends it), then the longest terminal retention. Result files live while
    the job is Completed (or Error/Cancelled with partial files); archived copies for the
    Archived retention, counted from archiving. Each gets `SAFETY_NET_DAYS` more, like the
    TTL on job records (`lifecycle.TTL_GRACE`): the purge deletes; the rule only catches
    what a purge never reached.
    """
    r = current.retention_days
    terminal = max(r.Completed, r.Error, r.Cancelled)
    lifetime = r.Submitted + r.Running + terminal
    days = {
        "uploads/": lifetime,
        "inbox/": lifetime,
        "results/": terminal,
        "archive/": r.Archived,
    }
    return {prefix: int(-(-value // 1)) + SAFETY_NET_DAYS for prefix, value in days.items()}


@lru_cache(maxsize=1)
def get_policy() -> Policy:
    """The container's policy, validated once."""
    return policy_from_env()


assert set(Retention.model_fields) == set(STATUSES), "retention must name every status"

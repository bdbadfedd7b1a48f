"""Lifecycle policy: defaults, env overrides and precise validation errors."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import ConfigurationError
from chalicelib.jobs.policy import parse_policy, policy_from_env


def test_defaults_match_the_spec() -> None:
    policy = parse_policy()
    assert policy.retention_days.days("Completed") == 30
    assert policy.retention_days.days("Submitted") == 2
    assert policy.archiving.storage_class == "GLACIER_IR"
    assert policy.archiving.min_age_days == 7
    assert policy.cleanup.max_jobs_per_run == 100
    assert policy.stalled_running_minutes == 20


def test_inline_override_merges_key_by_key() -> None:
    policy = policy_from_env({"AMR_LIFECYCLE_POLICY": "retention_days: {Error: 3}\ncleanup: {max_jobs_per_run: 5}"})
    assert policy.retention_days.days("Error") == 3
    assert policy.retention_days.days("Completed") == 30  # untouched sibling
    assert policy.cleanup.max_jobs_per_run == 5 and policy.cleanup.enabled is True


def test_file_override(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.yaml"
    path.write_text("stalled_running_minutes: 45\n")
    assert policy_from_env({"AMR_LIFECYCLE_POLICY_FILE": str(path)}).stalled_running_minutes == 45


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("retention_days: {Completed: -1}", "retention_days.Completed"),
        ("retention_days: {Complete: 3}", "retention_days.Complete"),
        ("archiving: {storage_class: DEEP_FREEZE}", "archiving.storage_class"),
        ("cleanup: {max_jobs_per_run: '10'}", "cleanup.max_jobs_per_run"),
        ("cleanup: {max_jobs_per_run: 0}", "cleanup.max_jobs_per_run"),
        ("archiving: {enabled: 'yes please'}", "archiving.enabled"),
        ("stalled_running_minutes: 0", "stalled_running_minutes"),
        ("surprise: 1", "surprise"),
        ("[1, 2]", "must be a mapping"),
        ("retention_days: {Error: [", "not valid YAML"),
    ],
)
def test_invalid_policies_name_the_problem(override: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        policy_from_env({"AMR_LIFECYCLE_POLICY": override})
    assert fragment in info.value.message
    assert info.value.status == 503


def test_unreadable_policy_file() -> None:
    with pytest.raises(ConfigurationError, match="AMR_LIFECYCLE_POLICY_FILE"):
        policy_from_env({"AMR_LIFECYCLE_POLICY_FILE": "/nonexistent/policy.yaml"})

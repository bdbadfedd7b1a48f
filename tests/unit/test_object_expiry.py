"""S3 lifecycle rules and TTLs derive from the lifecycle policy and never delete before it does (design §23)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chalicelib.jobs import policy, transactions

INFRA = Path(__file__).resolve().parents[2] / "infra" / "resources.json"


def _rules() -> dict[str, int]:
    resources = json.loads(INFRA.read_text())["Resources"]
    return {
        rule["Prefix"]: rule["ExpirationInDays"]
        for name in ("UploadBucket", "ResultsBucket", "ArchiveBucket")
        for rule in resources[name]["Properties"]["LifecycleConfiguration"]["Rules"]
        if "Prefix" in rule
    }


def test_infra_rules_are_the_ones_derived_from_the_default_policy() -> None:
    """Today the upload rule deletes inputs at 37 days, while a job submitted, run and
    completed can reference its input for 2 + 7 + 30 days."""
    assert _rules() == policy.object_expiry_days(policy.parse_policy())


def test_no_rule_deletes_before_the_policy_does() -> None:
    p = policy.parse_policy({"retention_days": {"Completed": 60, "Archived": 365}})
    days = policy.object_expiry_days(p)
    r = p.retention_days
    assert days["uploads/"] > r.Submitted + r.Running + r.Completed
    assert days["results/"] > r.Completed and days["archive/"] > r.Archived


def test_record_ttl_follows_each_status_retention() -> None:
    p = policy.parse_policy()
    for status in ("Completed", "Archived", "Error"):
        expiry = transactions.expiry(status, "2026-01-01T00:00:00.000Z")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        assert expiry == start + timedelta(days=p.retention_days.days(status)) + transactions.TTL_GRACE

"""Schedule rates: from the policy locally, from the baked file in a packaged artifact."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from chalicelib.maintenance import schedules


def test_rates_follow_the_policy_without_a_baked_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(schedules, "BAKED_RATES", tmp_path / "absent.json")
    assert schedules.rates_minutes() == {"stalled": 5, "cleanup": 24 * 60}
    assert schedules.cleanup_rate().value == 1 and schedules.cleanup_rate().unit == "DAYS"


def test_baked_rates_win_and_need_no_policy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    baked = tmp_path / "schedule_rates.json"
    baked.write_text(json.dumps({"stalled": 3, "cleanup": 90}))
    monkeypatch.setattr(schedules, "BAKED_RATES", baked)
    monkeypatch.setattr(schedules, "_policy_for_schedules", lambda: pytest.fail("policy was parsed"))
    assert schedules.rates_minutes() == {"stalled": 3, "cleanup": 90}
    rate = schedules.stalled_rate()
    assert (rate.value, rate.unit) == (3, "MINUTES")
    assert (schedules.cleanup_rate().value, schedules.cleanup_rate().unit) == (90, "MINUTES")

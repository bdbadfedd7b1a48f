"""Per-user quotas (design §23): 429 with Retry-After and a message naming the limit."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.clock import FakeClock
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from chalicelib.jobs import quotas
from chalicelib.prediction import outcomes
from tests.integration.test_intake import put, tags
from tests.integration.test_jobs_api import call, payload
from tests.integration.test_maintenance import fresh_headers


def _post(client: Any, headers: dict[str, str], n: int = 0) -> Any:
    return call(client, "POST", "/jobs", headers, {"job_name": f"s{n}"})


def test_concurrent_jobs_limit(client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Today: no limit, one user can queue any number of jobs."""
    monkeypatch.setenv(quotas.CONCURRENT_ENV, "3")
    _, headers = make_user()
    assert [_post(client, headers, n).status_code for n in range(3)] == [201, 201, 201]
    refused = _post(client, headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert payload(refused)["error"]["code"] == "too_many_requests"
    assert "Concurrent jobs limit reached: 3 of 3" in payload(refused)["error"]["message"]
    _, other = make_user()
    assert _post(client, other).status_code == 201  # per user


def test_jobs_per_day_limit_resets_at_midnight_utc(
    client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch, fake_clock: FakeClock
) -> None:
    monkeypatch.setenv(quotas.JOBS_ENV, "2")
    user_id, headers = make_user()
    assert _post(client, headers).status_code == 201
    batch = call(
        client,
        "POST",
        "/batches",
        headers,
        {"batch_name": "b", "samples": [{"name": "a", "filename": "a.fa"}, {"name": "b", "filename": "b.fa"}]},
    )
    assert batch.status_code == 429 and "Daily jobs limit reached: 2 jobs per day" in payload(batch)["error"]["message"]
    assert batch.headers["Retry-After"] == str(12 * 3600)  # the fake clock stands at 12:00 UTC
    assert _post(client, headers).status_code == 201
    assert _post(client, headers).status_code == 429
    fake_clock.advance(hours=12)
    assert _post(client, fresh_headers(user_id)).status_code == 201


def test_bytes_per_day_limit_counts_arrived_inputs(
    client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(quotas.BYTES_ENV, "100")
    user_id, headers = make_user("quinn")
    assert _post(client, headers).status_code == 201
    client.lambda_.invoke("on_upload", put("inbox/quinn/big.fa", b">c\n" + b"ACGT" * 40 + b"\n"))
    refused = _post(client, headers)
    assert refused.status_code == 429
    assert "Daily input limit reached: 164 of 100 bytes" in payload(refused)["error"]["message"]


def test_a_bucket_drop_over_quota_makes_no_job_and_says_why(
    client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(quotas.JOBS_ENV, "1")
    user_id, _ = make_user("rosa")
    first = put("inbox/rosa/a.fa", b">c\nACGT\n")
    client.lambda_.invoke("on_upload", first)
    (outcome,) = client.lambda_.invoke("on_upload", put("inbox/rosa/b.fa", b">c\nACGT\n")).payload
    assert outcome["outcome"] == outcomes.REJECTED
    assert "Daily jobs limit reached" in tags("inbox/rosa/b.fa")["amr-reason"]
    client.lambda_.invoke("on_upload", first)  # a repeated event of an admitted drop is not counted again
    assert len(queries.list_user_jobs(user_id, limit=10).items) == 1


def test_admins_are_not_limited(client: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(quotas.CONCURRENT_ENV, "1")
    _, headers = make_user(role="admin")
    assert [_post(client, headers, n).status_code for n in range(3)] == [201, 201, 201]

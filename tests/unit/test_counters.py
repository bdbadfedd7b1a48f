"""Sharded statistics counters: exact totals, no item written by every job, bounded reads."""
from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from chalicelib.core import tables as models
from chalicelib.core.tables import CounterModel
from chalicelib.jobs import counters, lifecycle as jobs, queries

pytestmark = pytest.mark.usefixtures("aws_env")


class Calls:
    """DynamoDB calls and the counter items each transaction writes."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.counter_writes: Counter[str] = Counter()
        for client in models.dynamodb_clients():
            client.meta.events.register("before-call.dynamodb", self._called)
            client.meta.events.register("before-parameter-build.dynamodb", self._built)

    def _called(self, model: Any, **_: Any) -> None:
        self.operations[model.name] += 1

    def _built(self, params: dict[str, Any], **_: Any) -> None:
        for item in params.get("TransactItems", []):
            update = item.get("Update")
            if update and update["TableName"].endswith("-counters"):
                self.counter_writes[update["Key"]["scope"]["S"]] += 1


def test_transitions_of_many_jobs_spread_over_shards_and_totals_stay_exact() -> None:
    calls = Calls()
    made = [jobs.create_job(user_id="heavy", job_name=f"j{i}", params={}) for i in range(40)]
    for job in made[:30]:
        jobs.transition(jobs.transition(job, "Running"), "Completed")
    for job in made[30:35]:
        jobs.transition(job, "Cancelled")

    global_items = [k for k in calls.counter_writes if k.startswith("global")]
    assert len(global_items) > 4, "jobs spread over several global shards"
    transitions = 40 + 30 * 2 + 5
    assert max(calls.counter_writes.values()) < transitions / 3, "no counter item is written by every job"
    assert "global" not in calls.counter_writes, "the unsharded item is never written"

    stats = queries.get_stats(queries.GLOBAL_SCOPE)
    assert stats["by_status"] == {
        "Submitted": 5, "Running": 0, "Completed": 30, "Error": 0, "Archived": 0, "Cancelled": 5,
    }
    assert stats["total"] == 40 and stats["success_rate"] == 1.0
    assert queries.get_stats(queries.user_scope("heavy"))["by_status"] == stats["by_status"]
    assert queries.get_stats(queries.user_scope("nobody"))["total"] == 0


def test_every_count_of_one_job_lands_in_one_shard() -> None:
    job = jobs.create_job(user_id="u1", job_name="one", params={})
    jobs.transition(jobs.transition(job, "Running"), "Error", error="boom")
    shard = counters.shard_key("global", counters.shard_of(job.job_id))
    item = CounterModel.get(shard, consistent_read=True)
    assert (item.n_submitted, item.n_running, item.n_error, item.created_total) == (0, 0, 1, 1)


def test_stats_read_is_one_batch_get_whatever_the_job_count() -> None:
    for i in range(25):
        jobs.create_job(user_id="u1", job_name=f"j{i}", params={})
    calls = Calls()
    assert queries.get_stats(queries.GLOBAL_SCOPE)["total"] == 25
    assert dict(calls.operations) == {"BatchGetItem": 1}


def test_counts_written_before_sharding_are_still_counted() -> None:
    CounterModel("global", n_completed=7, completed_total=7, created_total=7, model_resfinder=7).save()
    jobs.create_job(user_id="u1", job_name="new", params={})
    stats = queries.get_stats(queries.GLOBAL_SCOPE)
    assert stats["by_status"]["Completed"] == 7 and stats["by_status"]["Submitted"] == 1
    assert stats["top_models"] == [{"model_name": "resfinder", "count": 8}]


def test_add_outside_a_transaction_counts_like_a_transition() -> None:
    counters.add(user_id="legacy", job_id="old-1", actions=[CounterModel.n_completed.add(1), CounterModel.created_total.add(1)])
    assert queries.get_stats(queries.user_scope("legacy"))["by_status"]["Completed"] == 1
    assert queries.get_stats(queries.GLOBAL_SCOPE)["by_status"]["Completed"] == 1

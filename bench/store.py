"""DynamoDB round trips per store operation, counted with a botocore event hook.

Runs the real store code against moto and prints one row per operation. Targets (from
the design this service replaces): get 1, create <= 2, transition <= 2, progress 1,
one list page 1. Batch operations (design §13) run on a 500-sample batch and count S3
calls too: the matrix must cost a bounded number of Query pages plus one GetObject per
finished sample.
"""
from __future__ import annotations

from collections import Counter
import io
from contextlib import contextmanager, redirect_stdout
from typing import Any, Callable, Iterator

import benchenv  # noqa: F401,E402  (must precede chalicelib imports)

from moto import mock_aws  # noqa: E402

import json  # noqa: E402

from chalicelib.batches import actions, matrix, store as batches  # noqa: E402
from chalicelib.core import aws, tables as models  # noqa: E402
from chalicelib.jobs import api as jobs_api, lifecycle as jobs, queries, s3layout  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402

BATCH_SAMPLES = 500
TARGETS = {
    "get": 1, "create": 2, "transition": 2, "progress": 1, "list page": 1,
    "batch show": 2, "batch job transition": 1,
    "batch list page": 1 + 4,  # 1 Query + ceil(20 batches × 17 counter keys / 100) BatchGetItems
    # 1 record + ceil(500 / ~31 jobs per shard) transactions
    f"batch create ({BATCH_SAMPLES})": 1 + 20,
    # Query pages (<= 4 for 500 items) + one GetObject per finished sample
    f"batch matrix ({BATCH_SAMPLES} done)": 4 + BATCH_SAMPLES,
}


class CallCounter:
    """Counts DynamoDB API calls by operation name via 'before-call' events."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._hooked: set[int] = set()

    def hook(self) -> None:
        for client in models.dynamodb_clients():
            if id(client) not in self._hooked:
                client.meta.events.register("before-call.dynamodb", self._count)
                self._hooked.add(id(client))
        s3 = aws.client("s3")
        if id(s3) not in self._hooked:
            s3.meta.events.register("before-call.s3", self._count_s3)
            self._hooked.add(id(s3))

    def _count_s3(self, model: Any, **_: Any) -> None:
        self.calls[f"s3:{model.name}"] += 1

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @contextmanager
    def measure(self) -> Iterator[Counter[str]]:
        self.hook()
        before = self.calls.copy()
        delta: Counter[str] = Counter()
        yield delta
        delta.update(self.calls - before)


def run() -> list[tuple[str, Counter[str]]]:
    counter = CallCounter()
    rows: list[tuple[str, Counter[str]]] = []

    def op(name: str, fn: Callable[[], Any]) -> Any:
        with counter.measure() as delta:
            result = fn()
        rows.append((name, delta))
        return result

    models.bind_models(get_settings())
    models.create_tables()
    for i in range(30):
        jobs.create_job(user_id="bench-user", job_name=f"seed{i}", params={})
    job = op("create", lambda: jobs.create_job(user_id="bench-user", job_name="bench", params={}))
    op("get", lambda: queries.get_job(job.job_id))
    op("transition", lambda: jobs.transition(job.job_id, "Running"))
    op("progress", lambda: jobs.update_progress(job.job_id, 40))
    op("heartbeat", lambda: jobs.heartbeat(job.job_id))
    op("append event", lambda: jobs.append_event(job.job_id, "batch done"))
    held = queries.get_job(job.job_id)
    op("transition (job in hand)", lambda: jobs.transition(held, "Completed"))
    op("list page", lambda: queries.list_user_jobs("bench-user", limit=10))
    token = queries.list_user_jobs("bench-user", limit=10).next_token
    op("list next page", lambda: queries.list_user_jobs("bench-user", limit=10, next_token=token))
    op("list page by status", lambda: queries.list_user_jobs("bench-user", status="Submitted", limit=10))
    op("events page", lambda: queries.list_events(job.job_id, limit=50))
    op("stats", lambda: queries.get_stats(queries.user_scope("bench-user")))
    op("delete (events + record)", lambda: jobs.delete_job(queries.get_job(job.job_id)))
    batch_operations(op)
    return rows


def _create_batch(name: str) -> tuple[Any, list[Any]]:
    batch = batches.create(user_id="bench-user", batch_name=name, params={})
    opened = [
        jobs_api.submission("bench-user", f"sample-{i:03d}", {"model_name": "resfinder"}, f"s{i}.fasta",
                            batch_id=batch.batch_id, batch_index=i)
        for i in range(BATCH_SAMPLES)
    ]
    jobs.create_jobs([job for job, _ in opened])
    return batch, [job for job, _ in opened]


def _finish(job: Any) -> None:
    """Bring a sample to Completed with a predictions.json, as the prediction would."""
    key = s3layout.result_key(job.user_id, job.job_id, s3layout.PREDICTIONS_JSON)
    doc = {"genes": [{"gene": "blaKPC-2"}], "mutations": [],
           "phenotypes": [{"antimicrobial": "meropenem", "phenotype": "Resistant"},
                          {"antimicrobial": "amikacin", "phenotype": "No resistance"}]}
    s3layout.put_object(get_settings().results_bucket, key, json.dumps(doc).encode(), "application/json")
    jobs.transition(jobs.transition(job, "Running"), "Completed", result_keys=[key])


def batch_operations(op: Callable[[str, Callable[[], Any]], Any]) -> None:
    settings = get_settings()
    aws.client("s3").create_bucket(Bucket=settings.results_bucket)
    aws.client("s3").create_bucket(Bucket=settings.upload_bucket)
    aws.client("s3").create_bucket(Bucket=settings.archive_bucket)
    batch, members = op(f"batch create ({BATCH_SAMPLES})", lambda: _create_batch("run"))
    op("batch show", lambda: batches.totals([batch.batch_id]) and batches.get(batch.batch_id))
    for n in range(19):
        batches.create(user_id="bench-user", batch_name=f"older {n}", params={})
    op("batch list page", lambda: batches.totals([b.batch_id for b in batches.list_for_user("bench-user", 20).items]))
    op("batch job transition", lambda: jobs.transition(members[0], "Running"))
    jobs.transition(queries.get_job(members[0].job_id), "Completed")
    for job in members[1:]:
        _finish(job)
    op(f"batch matrix ({BATCH_SAMPLES} done)", lambda: matrix.build(batch))
    other, _ = _create_batch("to cancel")
    op(f"batch cancel ({BATCH_SAMPLES} waiting)", lambda: actions.cancel(other, "bench"))
    op(f"batch delete ({BATCH_SAMPLES})", lambda: actions.delete(batches.get(other.batch_id)))


def main() -> None:
    from local.emulator import serialise_writes  # batch actions write from threads; moto needs the lock

    serialise_writes()
    with mock_aws(), redirect_stdout(io.StringIO()):  # metric lines are not the report
        rows = run()
    print(f"{'operation':<28}{'calls':>6}  {'target':>6}  detail")
    failed = []
    for name, delta in rows:
        total = sum(delta.values())
        target = TARGETS.get(name)
        mark = "" if target is None else (" ok" if total <= target else " OVER")
        if target is not None and total > target:
            failed.append(name)
        detail = ", ".join(f"{k} {v}" for k, v in sorted(delta.items()))
        print(f"{name:<28}{total:>6}  {target if target is not None else '-':>6}{mark}  {detail}")
    print("all targets met" if not failed else f"over target: {', '.join(failed)}")


if __name__ == "__main__":
    main()

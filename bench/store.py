"""DynamoDB round trips per store operation, counted with a botocore event hook.

Runs the real store code against moto and prints one row per operation. Targets (from
the design this service replaces): get 1, create <= 2, transition <= 2, progress 1,
one list page 1.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import benchenv  # noqa: F401,E402  (must precede chalicelib imports)

from moto import mock_aws  # noqa: E402

from chalicelib.core import tables as models  # noqa: E402
from chalicelib.jobs import lifecycle as jobs  # noqa: E402
from chalicelib.core.settings import get_settings  # noqa: E402

TARGETS = {"get": 1, "create": 2, "transition": 2, "progress": 1, "list page": 1}


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
    op("get", lambda: jobs.get_job(job.job_id))
    op("transition", lambda: jobs.transition(job.job_id, "Running"))
    op("progress", lambda: jobs.update_progress(job.job_id, 40))
    op("heartbeat", lambda: jobs.heartbeat(job.job_id))
    op("append event", lambda: jobs.append_event(job.job_id, "batch done"))
    held = jobs.get_job(job.job_id)
    op("transition (job in hand)", lambda: jobs.transition(held, "Completed"))
    op("list page", lambda: jobs.list_user_jobs("bench-user", limit=10))
    token = jobs.list_user_jobs("bench-user", limit=10).next_token
    op("list next page", lambda: jobs.list_user_jobs("bench-user", limit=10, next_token=token))
    op("list page by status", lambda: jobs.list_user_jobs("bench-user", status="Submitted", limit=10))
    op("events page", lambda: jobs.list_events(job.job_id, limit=50))
    op("stats", lambda: jobs.get_stats(jobs.user_scope("bench-user")))
    op("delete (events + record)", lambda: jobs.delete_job(jobs.get_job(job.job_id)))
    return rows


def main() -> None:
    with mock_aws():
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

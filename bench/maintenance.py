"""Due jobs cleared per scheduled tick (design §23), on in-process moto with IAM enforced.

Writes N jobs that are due for the purge (Error, 15 days old: retention 14 days), then fires
the `maintenance_purge` schedule once through the app's own handler, as EventBridge would,
and again for the archive (N Completed jobs, 8 days old, each with its result files).
Prints, per task: due jobs, jobs cleared by the one tick, passes, hand-overs, seconds, AWS
calls by operation (counted by the local IAM guard, which also checks each against the
maintenance role's policy) and what one pass of `cleanup.max_jobs_per_run` clears (the
previous behaviour: one pass per tick).

    python bench/maintenance.py [--jobs 10000] [--archive-jobs 1000]
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import benchenv  # noqa: F401  (must precede chalicelib imports)
from moto import mock_aws

from chalicelib.core import aws, clock
from chalicelib.core.settings import get_settings
from chalicelib.jobs import imports, lifecycle, policy, s3layout
from local.emulator import serialise_writes
from local.iam import Guard, guard_app
from local.provision import provision
from tools import stage

START = datetime(2026, 11, 1, tzinfo=UTC)
RESULT_FILES = ("predictions.json", "predictions.tsv")


def _setup() -> None:
    provision()


def _write_due(n: int, status: str, with_results: bool) -> None:
    """N jobs entering `status` now (bulk import path), with result objects if asked."""
    settings = get_settings()
    s3 = aws.client("s3")
    batch = []
    for i in range(n):
        user, job_id = f"user{i % 50}", str(uuid.uuid4())
        fields: dict[str, Any] = {"job_name": f"j{i}", "progress": 100.0 if status == lifecycle.COMPLETED else 0.0}
        if with_results:
            keys = [s3layout.result_key(user, job_id, name) for name in RESULT_FILES]
            for key in keys:
                s3.put_object(Bucket=settings.results_bucket, Key=key, Body=b'{"genes": []}')
            fields["result_keys"] = keys
        job = imports.imported_job(job_id=job_id, user_id=user, status=status, created_at=clock.now_iso(), **fields)
        batch.append(imports.ImportedJob(job, (("INFO", "bench job"),)))
    for start in range(0, n, 500):
        imports.import_jobs(batch[start : start + 500])


def _tick(app: Any, guard: Guard, name: str) -> dict[str, Any]:
    """Fire one schedule as the local scheduler does (a 15-minute Lambda context), then run
    the hand-overs it queued, as Lambda's async queue would; the chain is one tick."""
    from local.discovery import invoke
    from local.invoker import drain
    from local.scheduler import scheduled_event

    guard.observed.clear()
    started = time.perf_counter()
    report = dict(invoke(app, name, scheduled_event(app.app_name, name)))
    sqs = aws.client("sqs")
    chain = drain(app, sqs, sqs.get_queue_url(QueueName=get_settings().async_queue)["QueueUrl"])
    for _, more in chain:
        for key in ("purged", "archived", "failed"):
            report[key] = report[key] + more[key]
        report["passes"] += more["passes"]
    report["invocations"] = 1 + len(chain)
    report["seconds"] = time.perf_counter() - started
    report["calls"] = Counter(o.operation for o in guard.observed)
    report["refused"] = [o for o in guard.observed if not o.allowed]
    return report


def _print(task: str, due: int, report: dict[str, Any], per_pass: int) -> None:
    cleared = len(report["purged"] if task == "purge" else report["archived"])
    calls = report["calls"]
    print(f"\n{task}: {due:,} due jobs, one scheduled tick")
    print(f"  cleared            {cleared:,} ({'all' if cleared == due else 'NOT all'})")
    print(f"  previous behaviour {min(due, per_pass):,} per tick (one pass of max_jobs_per_run={per_pass})")
    invocations = report["invocations"]
    print(f"  passes             {report['passes']} in {invocations} invocation(s) (hand-overs: {invocations - 1})")
    print(f"  failed             {len(report['failed'])}")
    print(f"  seconds            {report['seconds']:.1f} ({cleared / report['seconds']:,.0f} jobs/s on moto)")
    print(f"  AWS calls          {sum(calls.values()):,} ({sum(calls.values()) / max(1, cleared):.1f} per job)")
    for operation, n in calls.most_common():
        print(f"    {operation:<32} {n:>8,}")
    print(f"  refused by IAM     {len(report['refused'])}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs due for the purge")
    parser.add_argument("--archive-jobs", type=int, default=1_000, help="jobs due for archiving (each has 2 objects)")
    args = parser.parse_args()
    serialise_writes()
    stage.quiet_metrics()
    fake = clock.FakeClock(START)
    clock.set_clock(fake)
    per_pass = policy.get_policy().cleanup.max_jobs_per_run
    with mock_aws():
        aws.reset_clients()
        _setup()
        from app import app

        guard = Guard(get_settings())
        guard.install()
        unguard = guard_app(app)
        try:
            _write_due(args.jobs, lifecycle.ERROR, with_results=False)
            _write_due(args.archive_jobs, lifecycle.COMPLETED, with_results=True)
            fake.advance(days=15)
            print(f"maintenance backlog on moto; max_jobs_per_run={per_pass}; IAM enforced")
            purge = _tick(app, guard, "maintenance_purge")
            _print("purge", args.jobs, purge, per_pass)
            archive = _tick(app, guard, "maintenance_archive")
            _print("archive", args.archive_jobs, archive, per_pass)
        finally:
            unguard()
            guard.uninstall()


if __name__ == "__main__":
    main()

"""Load on the local stack: many users submitting jobs through the API and the bucket.

Starts `python -m local.stack` on free loopback ports with a temporary state directory,
then N concurrent users (threads) each register, log in and, until the time is up (or the
job cap is reached), submit a group of jobs through `POST /jobs` + the presigned upload
and drop one more file into `inbox/{username}/`, poll every job to its end and fetch the
results of each. The genome is a small random contig carrying the KPC-2 allele, so every
job must end Completed with that gene.

Reported: jobs per minute, API latency p50/p95/p99 (every API call, uploads excluded),
errors, and jobs lost (submitted but missing, not Completed, or without the gene) or
duplicated (a drop that made two jobs, a job nobody submitted) — both must be 0.
Then the cost of one `GET /jobs` page with 100 and with `--table-jobs` jobs in the
table (other users' jobs written straight into the emulator), with what the page's index
Query reads (ScannedCount): one page either way. The emulator's page time does grow with
the table, because moto answers an index Query by looking at every item of the table;
DynamoDB reads only the key range.

Bounded and local only: at most `--users` users, `--duration` seconds of submissions,
`--max-jobs` jobs, every connection to 127.0.0.1.

    .venv/bin/python bench/load.py [--users 8] [--duration 60] [--max-jobs 240] [--table-jobs 100000]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchenv  # noqa: F401  (must precede chalicelib imports)

import boto3  # noqa: E402

from chalicelib.prediction.resfinder_db import load_db  # noqa: E402
from local.client import free_port, post_form, stack_environment  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only (local.config.HOST)
KPC = "blaKPC-2_1_AY034847"
ADMIN_PASSWORD = "load-bench-admin-password"
UPLOAD_BUCKET = "amr-local-uploads"
JOBS_TABLE = "amr-local-jobs"
TERMINAL = {"Completed", "Error", "Cancelled", "Archived"}


def genome() -> bytes:
    allele = load_db().alleles[KPC].sequence
    rng = random.Random(11)
    left, right = "".join(rng.choices("ACGT", k=4000)), "".join(rng.choices("ACGT", k=4000))
    return f">contig1\n{left}{allele}{right}\n".encode()


@dataclass
class Stats:
    """Every API call's latency and outcome, shared by all user threads."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ms: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(ms)
            if error:
                self.errors.append(error)


class Api:
    def __init__(self, base: str, stats: Stats | None) -> None:
        assert base.startswith(f"http://{HOST}:"), "loopback only"
        self.base = base
        self.stats = stats

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except OSError as exc:
            status, raw = 0, str(exc).encode()
        ms = (time.perf_counter() - start) * 1000
        if self.stats is not None:
            self.stats.record(ms, None if 200 <= status < 300 else f"{method} {path.split('?')[0]} -> {status}")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


class Stack:
    """`python -m local.stack` in a temporary state directory, on free loopback ports."""

    def __init__(self, state_dir: Path) -> None:
        self.api_port, self.emulator_port = free_port(), free_port()
        self.state_dir = state_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def emulator(self) -> str:
        return f"http://{HOST}:{self.emulator_port}"

    def start(self) -> None:
        env = stack_environment(
            self.api_port, self.emulator_port, self.state_dir, AMR_ADMIN_PASSWORD=ADMIN_PASSWORD,
            AMR_SCHEDULER="off", AMR_SNAPSHOT_SECONDS="3600", AMR_BRIDGE_WORKERS="4", POWERTOOLS_LOG_LEVEL="ERROR",
        )
        log = open(self.state_dir.parent / "stack.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "local.stack"], cwd=ROOT, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        api = Api(self.api, None)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the local stack exited while starting; see {log.name}")
            if api.call("GET", "/health")[0] == 200:
                return
            time.sleep(0.5)
        raise SystemExit("the local stack did not start within 120 s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)  # its state is a temporary directory: nothing to save
        self.proc.wait(timeout=60)

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.emulator, region_name="us-east-1",
                            aws_access_key_id="load", aws_secret_access_key="load")

    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", endpoint_url=self.emulator, region_name="us-east-1",
                            aws_access_key_id="load", aws_secret_access_key="load")


@dataclass
class UserRun:
    """What one simulated user submitted and saw."""

    name: str
    token: str = ""
    api_jobs: list[str] = field(default_factory=list)
    drops: list[str] = field(default_factory=list)  # job names of inbox drops
    completed: set[str] = field(default_factory=set)
    bad_results: list[str] = field(default_factory=list)
    finished_at: float = 0.0


class Load:
    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack, self.args = stack, args
        self.stats = Stats()
        self.api = Api(stack.api, self.stats)
        self.content = genome()
        self.submitted = 0
        self.lock = threading.Lock()

    def _take(self, n: int) -> int:
        """Reserve up to n jobs of the global cap."""
        with self.lock:
            n = max(0, min(n, self.args.max_jobs - self.submitted))
            self.submitted += n
            return n

    def user(self, n: int, deadline: float) -> UserRun:
        run = UserRun(f"load{n}-{uuid.uuid4().hex[:6]}")
        password = "correct-horse-" + run.name
        self.api.call("POST", "/auth/register", {"username": run.name, "password": password, "email": f"{run.name}@example.org"})
        run.token = self.api.call("POST", "/auth/login", {"username": run.name, "password": password})[1]["access_token"]
        s3 = self.stack.s3()
        rounds = 0
        while time.monotonic() < deadline:
            group = self._take(self.args.group)
            if not group:
                break
            ids = []
            for k in range(group):
                status, body = self.api.call("POST", "/jobs", {"job_name": f"{run.name}-r{rounds}-{k}", "filename": "g.fa"}, run.token)
                if status != 201:
                    continue
                ids.append(body["job"]["job_id"])
                url = body["upload"]["url"]
                assert url.startswith(f"http://{HOST}:"), "loopback only"
                if post_form(url, body["upload"]["fields"], "g.fa", self.content, timeout=60) not in (200, 201, 204):
                    self.stats.record(0.0, "presigned upload refused")
            run.api_jobs += ids
            if rounds % 2 == 0 and self._take(1):
                name = f"{run.name}-drop-{rounds}"
                s3.put_object(Bucket=UPLOAD_BUCKET, Key=f"inbox/{run.name}/{name}.fa", Body=self.content,
                              Metadata={"job-name": name})
                run.drops.append(name)
            for job_id in ids:
                self._follow(run, job_id, time.monotonic() + self.args.drain)
            rounds += 1
        run.finished_at = time.monotonic()
        return run

    def _follow(self, run: UserRun, job_id: str, until: float) -> None:
        while time.monotonic() < until:
            status, job = self.api.call("GET", f"/jobs/{job_id}", token=run.token)
            if status == 200 and job["status"] in TERMINAL:
                if job["status"] == "Completed":
                    self._check_results(run, job_id)
                return
            time.sleep(0.5)

    def _check_results(self, run: UserRun, job_id: str) -> None:
        status, results = self.api.call("GET", f"/jobs/{job_id}/results", token=run.token)
        if status == 200 and [g["allele"] for g in results.get("genes", [])] == [KPC]:
            run.completed.add(job_id)
        else:
            run.bad_results.append(job_id)

    def all_jobs(self, run: UserRun) -> list[dict[str, Any]]:
        jobs, token = [], None
        while True:
            query = "/jobs?limit=100" + (f"&next_token={urllib.parse.quote(token)}" if token else "")
            status, body = self.api.call("GET", query, token=run.token)
            if status != 200:
                raise SystemExit(f"listing jobs failed: {status} {body}")
            jobs += body["jobs"]
            token = body["next_token"]
            if not token:
                return jobs

    def settle(self, runs: list[UserRun]) -> list[dict[str, Any]]:
        """Wait (bounded) until every job of every user has ended; returns them all."""
        deadline = time.monotonic() + self.args.drain
        while True:
            listed = [(run, job) for run in runs for job in self.all_jobs(run)]
            waiting = [job for _, job in listed if job["status"] not in TERMINAL]
            expected = sum(len(r.api_jobs) + len(r.drops) for r in runs)
            if (not waiting and len(listed) >= expected) or time.monotonic() > deadline:
                for run, job in listed:  # drops were not followed by the user: check them now
                    if job["status"] == "Completed" and job["job_id"] not in run.completed:
                        self._check_results(run, job["job_id"])
                return [job for _, job in listed]
            time.sleep(1.0)


def seed_jobs(stack: Stack, count: int) -> float:
    """Write `count` Completed jobs of other users straight into the emulator's table."""
    ddb = stack.dynamodb()
    started = time.perf_counter()

    def item(n: int) -> dict[str, Any]:
        ts = f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.{n % 1000:03d}Z"
        user = f"seed-user-{n % 5000}"
        return {"PutRequest": {"Item": {
            "job_id": {"S": str(uuid.uuid4())}, "user_id": {"S": user}, "job_name": {"S": f"seed {n}"},
            "status": {"S": "Completed"}, "user_status": {"S": f"{user}#Completed"}, "progress": {"N": "100"},
            "created_at": {"S": ts}, "updated_at": {"S": ts}, "status_changed_at": {"S": ts},
            "params": {"M": {}}, "model_name": {"S": "resfinder"}, "source": {"S": "api"},
        }}}

    def write(chunk: range) -> None:
        requests = [item(n) for n in chunk]
        while requests:
            left = ddb.batch_write_item(RequestItems={JOBS_TABLE: requests}).get("UnprocessedItems", {})
            requests = left.get(JOBS_TABLE, [])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, [range(i, min(i + 25, count)) for i in range(0, count, 25)]))
    return time.perf_counter() - started


def page_time(api: Api, token: str, repeats: int = 10) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        status, body = api.call("GET", "/jobs?limit=50", token=token)
        times.append((time.perf_counter() - start) * 1000)
        assert status == 200 and len(body["jobs"]) == 50, (status, body)
    return statistics.median(times)


def items_read(stack: Stack, user_id: str) -> int:
    """What DynamoDB reads for that page: the Query's ScannedCount on the user's index."""
    reply = stack.dynamodb().query(
        TableName=JOBS_TABLE, IndexName="user-created-index", KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": user_id}}, ScanIndexForward=False, Limit=50,
    )
    return int(reply["ScannedCount"])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of submissions")
    parser.add_argument("--group", type=int, default=3, help="jobs each user submits together")
    parser.add_argument("--max-jobs", type=int, default=240)
    parser.add_argument("--drain", type=float, default=300.0, help="seconds to wait for jobs to finish")
    parser.add_argument("--table-jobs", type=int, default=100_000)
    args = parser.parse_args()
    if not (1 <= args.users <= 64 and 0 < args.duration <= 600 and 1 <= args.max_jobs <= 5000):
        raise SystemExit("bounded load only: 1-64 users, at most 600 s, at most 5000 jobs")

    with tempfile.TemporaryDirectory(prefix="amr-load-") as tmp:
        stack = Stack(Path(tmp) / "state")
        stack.start()
        try:
            report(stack, args)
        finally:
            stack.stop()


def report(stack: Stack, args: argparse.Namespace) -> None:
    load = Load(stack, args)
    started = time.monotonic()
    with ThreadPoolExecutor(args.users) as pool:
        runs = list(pool.map(lambda n: load.user(n, started + args.duration), range(args.users)))
    listed = load.settle(runs)
    elapsed = time.monotonic() - started

    by_name: dict[str, list[dict[str, Any]]] = {}
    for job in listed:
        by_name.setdefault(job["job_name"], []).append(job)
    api_ids = {j for r in runs for j in r.api_jobs}
    drops = [d for r in runs for d in r.drops]
    completed = {j for r in runs for j in r.completed}
    lost = [j for j in api_ids if j not in completed]
    lost += [d for d in drops if len(by_name.get(d, [])) == 0 or by_name[d][0]["job_id"] not in completed]
    duplicated = [d for d in drops if len(by_name.get(d, [])) > 1]
    drop_names = set(drops)
    unexpected = [j["job_id"] for j in listed if j["job_id"] not in api_ids and j["job_name"] not in drop_names]
    latencies = load.stats.latencies

    print(f"load: {args.users} users, {args.duration:g} s of submissions (groups of {args.group} + one bucket drop "
          f"every other round), cap {args.max_jobs} jobs; local stack on loopback, shared machine")
    print(f"{'jobs submitted':<28}{len(api_ids)} API + {len(drops)} bucket drops")
    print(f"{'jobs completed':<28}{len(completed)} in {elapsed:.0f} s = {len(completed) / elapsed * 60:.1f} jobs/min")
    print(f"{'API calls':<28}{len(latencies)}; p50 {percentile(latencies, 50):.0f} ms, p95 {percentile(latencies, 95):.0f} ms, "
          f"p99 {percentile(latencies, 99):.0f} ms")
    print(f"{'errors':<28}{len(load.stats.errors)}" + (f" ({', '.join(sorted(set(load.stats.errors))[:5])})" if load.stats.errors else ""))
    print(f"{'jobs lost':<28}{len(lost)}")
    print(f"{'jobs duplicated':<28}{len(duplicated) + len(unexpected)}")

    pager = UserRun("pager-" + uuid.uuid4().hex[:6])
    load.api.call("POST", "/auth/register", {"username": pager.name, "password": "correct-horse-pager", "email": f"{pager.name}@example.org"})
    pager.token = load.api.call("POST", "/auth/login", {"username": pager.name, "password": "correct-horse-pager"})[1]["access_token"]
    for n in range(100 - min(100, len(listed))):
        load.api.call("POST", "/jobs", {"job_name": f"filler {n}"}, pager.token)
    for n in range(50):
        load.api.call("POST", "/jobs", {"job_name": f"page {n}"}, pager.token)
    quiet = Api(stack.api, None)
    in_table = len(listed) + 150 + max(0, 100 - len(listed))
    pager_id = load.api.call("GET", "/auth/me", token=pager.token)[1]["user_id"]
    small, small_read = page_time(quiet, pager.token), items_read(stack, pager_id)
    seconds = seed_jobs(stack, args.table_jobs)
    large, large_read = page_time(quiet, pager.token), items_read(stack, pager_id)
    print(f"GET /jobs page (50 jobs), median of 10: {small:.1f} ms with {in_table} jobs in the table, "
          f"{large:.1f} ms with {in_table + args.table_jobs} (seeded in {seconds:.0f} s); ratio {large / small:.2f}")
    print(f"items the page's Query reads (ScannedCount): {small_read} and {large_read}")
    print("(moto answers an index Query by looking at every item of the table, so on the emulator the page "
          "time grows with the table; DynamoDB reads only the page's key range, which ScannedCount shows)")
    if lost or duplicated or unexpected:
        raise SystemExit(f"jobs lost {lost[:5]} or duplicated {duplicated[:5]} {unexpected[:5]}")


if __name__ == "__main__":
    main()

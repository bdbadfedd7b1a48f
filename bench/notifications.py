"""Webhook delivery latency on the local stack (design §22): job completion to receipt.

    python bench/notifications.py [--jobs 20]

Starts the local stack (fresh state, free loopback ports), registers a webhook on a
receiver on 127.0.0.1, submits `--jobs` small genomes (Debian's resfinder-example) one
after another and, for each `job.completed` delivery, measures the time from the job's
`completed_at` (when the status change was written) to the moment the receiver got the
POST: stream read, notifier, queue, delivery. Prints p50, p95 and max.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.client import free_port, post_form, stack_environment  # noqa: E402
from local.receiver import Receiver, verify_signature  # noqa: E402

GENOME = Path("/usr/share/doc/resfinder/examples/data/test_isolate_01.fa.gz")
ADMIN_PASSWORD = "bench-admin-password"


def http(method: str, url: str, body: Any = None, token: str | None = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def wait(what: str, probe: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    if not GENOME.exists():
        print("resfinder-example is not installed (make debs); nothing to measure.")
        return 0
    api_port, emulator_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="amr-notify-bench-") as tmp, Receiver() as receiver:
        env = stack_environment(
            api_port,
            emulator_port,
            Path(tmp, "state"),
            AMR_ADMIN_PASSWORD=ADMIN_PASSWORD,
            POWERTOOLS_LOG_LEVEL="WARNING",
        )
        log = open(Path(tmp, "stack.log"), "wb")
        stack = subprocess.Popen(
            [sys.executable, "-m", "local.stack"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        api = f"http://127.0.0.1:{api_port}"
        try:
            wait("the local stack", lambda: http("GET", f"{api}/health")["status"] == "ok", 180)
            token = http("POST", f"{api}/auth/login", {"username": "admin", "password": ADMIN_PASSWORD})["access_token"]
            secret = http("PUT", f"{api}/account/notifications", {"webhook_url": receiver.url}, token)["secret"]
            latencies: list[float] = []
            for n in range(args.jobs):
                created = http("POST", f"{api}/jobs", {"job_name": f"latency {n}", "filename": "i.fa.gz"}, token)
                upload = created["upload"]
                post_form(upload["url"], upload["fields"], "i.fa.gz", GENOME.read_bytes())
                wait(f"delivery {n + 1}", lambda n=n: len(receiver.received) > n, 120)
                hit = receiver.received[n]
                assert verify_signature(secret, hit.headers["AMR-Signature"], hit.body)
                completed = json.loads(hit.body)["data"]["job"]["completed_at"]
                done = datetime.fromisoformat(completed.replace("Z", "+00:00")).timestamp()
                latencies.append(hit.at - done)
        finally:
            stack.terminate()
            stack.wait(60)
    ms = [1000 * x for x in latencies]
    print(f"webhook latency, job completed -> received, {len(ms)} jobs on the local stack:")
    print(
        f"  p50 {percentile(ms, 0.5):.0f} ms   p95 {percentile(ms, 0.95):.0f} ms   max {max(ms):.0f} ms   "
        f"mean {statistics.mean(ms):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

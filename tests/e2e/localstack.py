"""The local stack as a subprocess, for end-to-end tests (`python -m local.stack` on free
ports with a temporary state directory), and the helpers that wait on it.

Every wait has a deadline, and `Stack.kill` ends the process group whatever happens.
The `stack` fixture (one stack per test module) is in this folder's conftest.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest

from local.client import free_port, stack_environment  # noqa: F401  (free_port: for the tests)

PROJECT_DIR = Path(__file__).resolve().parents[2]
GENOME = Path("/usr/share/doc/resfinder/examples/data/test_isolate_01.fa.gz")
RESFINDER_DB = Path("/usr/share/resfinder/db")
UPLOAD_BUCKET = "amr-local-uploads"
RESULTS_BUCKET = "amr-local-results"
ADMIN_PASSWORD = "admin-password-for-e2e"
START_SECONDS = 90
JOB_SECONDS = 120
STOP_SECONDS = 60

needs_db = pytest.mark.skipif(
    not (GENOME.exists() and RESFINDER_DB.is_dir()),
    reason="needs Debian's resfinder-db and resfinder-example (make test installs them)",
)


def port_is_free(port: int) -> bool:
    """Nobody listens on it (connections in TIME_WAIT do not count, as for any server)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(1)
        except OSError:
            return False
        return True


def wait_until(what: str, probe: Callable[[], Any], seconds: float, interval: float = 0.3) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {seconds:g} s waiting for {what} (last: {last!r})")


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Stack:
    """The stack subprocess plus what a user needs to talk to it."""

    state_dir: Path
    api_port: int
    emulator_port: int
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0
    shared: dict[str, Any] = field(default_factory=dict)  # values later tests build on

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def emulator(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}"

    def env(self) -> dict[str, str]:
        # The test process runs the `test` stage; the stack must get a clean, local one.
        return stack_environment(
            self.api_port,
            self.emulator_port,
            self.state_dir,
            AMR_ADMIN_PASSWORD=ADMIN_PASSWORD,
            AMR_SNAPSHOT_SECONDS="1",
            POWERTOOLS_LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )

    def start(self) -> None:
        self.runs += 1
        out = open(self.log_dir / f"stack-{self.runs}.out", "wb")
        err = open(self.log_dir / f"stack-{self.runs}.err", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "local.stack"],
            cwd=PROJECT_DIR,
            env=self.env(),
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        out.close()
        err.close()
        wait_until("GET /health = 200", self._healthy, START_SECONDS)

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"stack exited with {self.proc.returncode} while starting:\n{self.logs()}")
        try:
            return self.http("GET", "/health", timeout=5).status == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        try:
            code = self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"stack did not stop within {STOP_SECONDS} s of {signal.Signals(sig).name}:\n{self.logs()}")
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        self.proc = None

    def logs(self) -> str:
        parts = []
        for path in sorted(self.log_dir.glob(f"stack-{self.runs}.*")):
            parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)

    def banner(self) -> str:
        return (self.log_dir / f"stack-{self.runs}.out").read_text(errors="replace")

    def http(self, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 30) -> Reply:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Reply(response.status, _json(response.read()), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, _json(exc.read()), dict(exc.headers))

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.emulator,
            region_name="us-east-1",
            aws_access_key_id="someone",
            aws_secret_access_key="anything",
        )

    def login(self, username: str, password: str) -> str:
        reply = self.http("POST", "/auth/login", {"username": username, "password": password})
        assert reply.status == 200, reply
        return str(reply.body["access_token"])


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


def job_when(stack: Stack, token: str, job_id: str, statuses: set[str]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        reply = stack.http("GET", f"/jobs/{job_id}", token=token)
        assert reply.status == 200, reply
        return reply.body if reply.body["status"] in statuses else None

    return wait_until(f"job {job_id} in {sorted(statuses)}", probe, JOB_SECONDS, interval=0.5)

"""Ctrl-C during `amr submit` leaves no job unexplained: the client (a subprocess, as a user
runs it) is interrupted while one upload is stuck half-way and another has finished.

A small fake service stands in for the API and the bucket, because only a fake upload
endpoint can be held half-way deterministically: it takes the first bytes of the big file
and then stops reading until the test is over.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 30


class FakeService:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.uploaded: set[str] = set()
        self.cancelled: list[str] = []
        self.stuck = threading.Event()  # the big upload has started and is held
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/jobs":
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    job_id = str(uuid.uuid4())
                    job = {"job_id": job_id, "job_name": body["job_name"], "status": "Submitted", "progress": 0}
                    service.jobs[job_id] = job
                    upload = {"url": f"{service.url}/bucket", "fields": {"key": f"uploads/u/{job_id}/{body['filename']}"},
                              "expires_in": 3600, "max_bytes": 10**9}
                    self._reply(201, {"job": job, "upload": upload})
                elif self.path == "/bucket":
                    length = int(self.headers["Content-Length"])
                    head = self.rfile.read(min(length, 65536))
                    job_id = next(j for j in service.jobs if j.encode() in head)
                    if length > 1_000_000:  # the big file: hold it half-way
                        service.stuck.set()
                        service.release.wait(SECONDS)
                        return
                    self.rfile.read(length - len(head))
                    service.uploaded.add(job_id)
                    self._reply(204)
                elif self.path.endswith("/cancel"):
                    job_id = self.path.split("/")[2]
                    service.cancelled.append(job_id)
                    self._reply(202, {**service.jobs[job_id], "status": "Cancelled"})
                else:
                    self._reply(404, {"error": {"code": "not_found", "message": "no such route"}})

        return Handler

    def __enter__(self) -> "FakeService":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[FakeService]:
    with FakeService() as running:
        yield running


def test_ctrl_c_during_upload_cancels_and_names_the_jobs_not_uploaded(service: FakeService, tmp_path: Path) -> None:
    small = tmp_path / "small.fa"
    small.write_text(">c\nACGT\n")
    big = tmp_path / "big.fa"
    big.write_bytes(b">c\n" + b"ACGT" * (8 * 1024 * 1024) + b"\n")  # 32 MB: more than any socket buffer
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMR_")}
    env.update(AMR_API_URL=service.url, AMR_TOKEN="token", XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "amrcli", "submit", str(small), str(big)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    small_done = threading.Event()

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("uploaded small.fa"):
                small_done.set()  # the client itself knows: its note comes after its record

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert service.stuck.wait(SECONDS), "the big upload never started"
        assert small_done.wait(SECONDS), "".join(lines)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=SECONDS)
        reader.join(SECONDS)
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(lines)
    (small_job,) = service.uploaded
    (big_job,) = set(service.jobs) - {small_job}
    assert proc.returncode == 130, err
    assert service.cancelled == [big_job]  # only the job whose input never arrived
    assert f"cancelled {big_job} (big)" in err
    assert f"uploaded {small_job} (small)" in err and f"amr watch {small_job}" in err
    assert "interrupted during upload; 1 job(s) cancelled" in err
    assert "Traceback" not in err and out == ""

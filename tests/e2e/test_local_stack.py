"""End to end: `python -m local.stack` as a user meets it — HTTP, S3, restarts, kills.

One stack process (free ports, a temporary state directory) serves the whole module; the
tests run in file order and the later ones stop and restart it. Every wait has a deadline,
and the fixture kills the process group whatever happens.
"""

from __future__ import annotations

import signal
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from tests.e2e.localstack import (
    ADMIN_PASSWORD,
    GENOME,
    JOB_SECONDS,
    RESULTS_BUCKET,
    UPLOAD_BUCKET,
    Stack,
    job_when,
    needs_db,
    port_is_free,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def post_form(url: str, fields: dict[str, str], filename: str, content: bytes) -> int:
    """A browser-style multipart POST (the presigned upload), with urllib alone."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def tags_of(s3: Any, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_banner_names_urls_buckets_and_examples(stack: Stack) -> None:
    banner = stack.banner()
    for expected in (
        stack.api,
        stack.emulator,
        UPLOAD_BUCKET,
        RESULTS_BUCKET,
        "amr-local-archive",
        "/auth/register",
        f"s3://{UPLOAD_BUCKET}/inbox/",
        "/admin/maintenance",
        "local.run_schedule",
        f"AMR_API_URL={stack.api}",
        "amr submit genome.fa --wait",
    ):
        assert expected in banner
    assert ADMIN_PASSWORD not in banner  # a chosen password is never echoed


def test_register_login_and_token_work(stack: Stack) -> None:
    reply = stack.http(
        "POST", "/auth/register", {"username": "alice", "password": "correct-horse-1", "email": "alice@example.org"}
    )
    assert reply.status == 201, reply
    token = stack.login("alice", "correct-horse-1")
    me = stack.http("GET", "/auth/me", token=token)
    assert me.status == 200 and me.body["username"] == "alice"
    stack.shared["alice_token"] = token
    stack.shared["alice_id"] = me.body["user_id"]


@needs_db
def test_api_submission_runs_to_completion_with_results(stack: Stack) -> None:
    token = stack.shared["alice_token"]
    created = stack.http("POST", "/jobs", {"job_name": "e2e api", "filename": "isolate.fa.gz"}, token=token)
    assert created.status == 201, created
    job_id = created.body["job"]["job_id"]
    assert created.body["job"]["status"] == "Submitted"
    upload = created.body["upload"]
    assert post_form(upload["url"], upload["fields"], "isolate.fa.gz", GENOME.read_bytes()) in (200, 201, 204)

    job = job_when(stack, token, job_id, {"Completed", "Error"})
    assert job["status"] == "Completed", job
    assert job["progress"] == 100
    results = stack.http("GET", f"/jobs/{job_id}/results", token=token)
    assert results.status == 200, results
    assert results.body["job_id"] == job_id and isinstance(results.body["genes"], list)
    keys = [o["Key"] for o in stack.s3().list_objects_v2(Bucket=RESULTS_BUCKET).get("Contents", [])]
    assert any(k.endswith(f"{job_id}/predictions.json") for k in keys), keys
    stack.shared["api_job"] = job_id
    stack.shared["api_genes"] = results.body["genes"]


@needs_db
def test_inbox_drop_creates_and_runs_a_job(stack: Stack) -> None:
    token = stack.shared["alice_token"]
    stack.s3().put_object(
        Bucket=UPLOAD_BUCKET,
        Key="inbox/alice/dropped isolate.fa.gz",
        Body=GENOME.read_bytes(),
        Metadata={"job-name": "from the inbox"},
    )

    def dropped_job() -> dict[str, Any] | None:
        jobs = stack.http("GET", "/jobs", token=token).body["jobs"]
        return next((j for j in jobs if j["job_name"] == "from the inbox"), None)

    job = wait_until("a job for the inbox drop", dropped_job, JOB_SECONDS, interval=0.5)
    done = job_when(stack, token, job["job_id"], {"Completed", "Error"})
    assert done["status"] == "Completed", done
    stack.shared["inbox_job"] = job["job_id"]


def test_unknown_inbox_user_gets_no_job_and_a_tag(stack: Stack) -> None:
    s3 = stack.s3()
    s3.put_object(Bucket=UPLOAD_BUCKET, Key="inbox/nobody-here/x.fa", Body=b">c\nACGT\n")

    tags = wait_until(
        "the rejected drop to be tagged", lambda: tags_of(s3, UPLOAD_BUCKET, "inbox/nobody-here/x.fa"), JOB_SECONDS
    )
    assert "nobody-here" in " ".join(tags.values())


def test_sigterm_stops_cleanly_and_restart_keeps_everything(stack: Stack) -> None:
    s3 = stack.s3()
    before_objects = {
        b: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", []))
        for b in (UPLOAD_BUCKET, RESULTS_BUCKET)
    }
    old_token = stack.shared["alice_token"]
    before_jobs = stack.http("GET", "/jobs", token=old_token).body["jobs"]
    assert "inbox/nobody-here/x.fa" in before_objects[UPLOAD_BUCKET]
    before_logs = {
        j["job_id"]: stack.http("GET", f"/jobs/{j['job_id']}/logs", token=old_token).body for j in before_jobs
    }
    tags_before = tags_of(s3, UPLOAD_BUCKET, "inbox/nobody-here/x.fa")

    assert stack.stop(signal.SIGTERM) == 0
    assert port_is_free(stack.api_port) and port_is_free(stack.emulator_port)
    assert "local stack stopped" in stack.banner()

    stack.start()
    # tokens issued before the restart still verify: the JWT secret is kept in the state dir
    me = stack.http("GET", "/auth/me", token=old_token)
    assert me.status == 200 and me.body["user_id"] == stack.shared["alice_id"]
    stack.login("admin", ADMIN_PASSWORD)  # bootstrapped once, found again
    after_jobs = stack.http("GET", "/jobs", token=old_token).body["jobs"]
    assert [(j["job_id"], j["status"], j["progress"]) for j in after_jobs] == [
        (j["job_id"], j["status"], j["progress"]) for j in before_jobs
    ]
    s3 = stack.s3()
    after_objects = {
        b: sorted(o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", []))
        for b in (UPLOAD_BUCKET, RESULTS_BUCKET)
    }
    assert after_objects == before_objects
    assert tags_of(s3, UPLOAD_BUCKET, "inbox/nobody-here/x.fa") == tags_before
    for job_id, logs in before_logs.items():
        assert stack.http("GET", f"/jobs/{job_id}/logs", token=old_token).body == logs
    if "api_job" in stack.shared:
        results = stack.http("GET", f"/jobs/{stack.shared['api_job']}/results", token=old_token)
        assert results.status == 200 and results.body["genes"] == stack.shared["api_genes"]


def test_hard_kill_loses_at_most_the_last_seconds(stack: Stack) -> None:
    reply = stack.http(
        "POST", "/auth/register", {"username": "bob", "password": "correct-horse-2", "email": "bob@example.org"}
    )
    assert reply.status == 201, reply
    snapshot = stack.state_dir / "snapshot.json"
    wait_until("a snapshot holding bob", lambda: "bob@example.org" in snapshot.read_text(), 15)

    stack.stop(signal.SIGKILL)
    assert port_is_free(stack.api_port) and port_is_free(stack.emulator_port)  # in-process emulator: no orphan

    stack.start()
    token = stack.login("bob", "correct-horse-2")
    assert stack.http("GET", "/auth/me", token=token).body["username"] == "bob"
    assert stack.stop(signal.SIGINT) == 0

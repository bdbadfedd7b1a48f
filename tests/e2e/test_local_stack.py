"""End to end: `python -m local.stack` as a user meets it — HTTP, S3, restarts, kills.

One stack process (free ports, a temporary state directory) serves the whole module; the
tests run in file order and the later ones stop and restart it. Every wait has a deadline,
and the fixture kills the process group whatever happens.
"""

from __future__ import annotations

import http.client
import signal
import uuid
from typing import Any

import pytest

from local.client import post_form
from tests.e2e.localstack import (
    ADMIN_PASSWORD,
    GENOME,
    JOB_SECONDS,
    RESULTS_BUCKET,
    UPLOAD_BUCKET,
    Stack,
    _json,
    job_when,
    needs_db,
    port_is_free,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


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


ECOLI = GENOME.with_name("test_isolate_05.fa.gz")  # gyrA p.S83A: quinolone resistance


@needs_db
def test_batch_runs_to_a_matrix_that_agrees_with_each_job(stack: Stack) -> None:
    token = stack.shared["alice_token"]
    samples = [{"name": "isolate 01", "filename": "i01.fa.gz"}, {"name": "isolate 05", "filename": "i05.fa.gz"}]
    created = stack.http(
        "POST", "/batches", {"batch_name": "e2e run", "params": {"species": "escherichia_coli"}, "samples": samples},
        token=token,
    )
    assert created.status == 201, created
    batch_id = created.body["batch"]["batch_id"]
    for opened, path in zip(created.body["jobs"], (GENOME, ECOLI)):
        upload = opened["upload"]
        assert post_form(upload["url"], upload["fields"], path.name, path.read_bytes()) in (200, 201, 204)

    def finished() -> dict[str, Any] | None:
        batch = stack.http("GET", f"/batches/{batch_id}", token=token).body
        return batch if batch["status"] == "Finished" else None

    batch = wait_until("the batch to finish", finished, JOB_SECONDS, interval=0.5)
    assert batch["counts"]["Completed"] == 2 and batch["progress"] == 100, batch
    matrix = stack.http("GET", f"/batches/{batch_id}/matrix", token=token).body
    for row in matrix["rows"]:
        results = stack.http("GET", f"/jobs/{row['job_id']}/results", token=token).body
        resistant = {p["antimicrobial"] for p in results["phenotypes"] if p["phenotype"] == "Resistant"}
        assert {a for a, call in row["calls"].items() if call == "R"} == resistant
    by_sample = {r["sample"]: r for r in matrix["rows"]}
    assert by_sample["isolate 05"]["calls"]["ciprofloxacin"] == "R"
    assert by_sample["isolate 05"]["mutations"] == ["gyrA p.S83A"]
    tsv = stack.http("GET", f"/batches/{batch_id}/matrix?format=tsv", token=token)
    assert tsv.status == 200 and tsv.headers["Content-Type"].startswith("text/tab-separated-values")
    lines = tsv.body.splitlines()
    assert lines[0].startswith("sample\tstatus\t") and [line.split("\t")[0] for line in lines[1:]] == [
        "isolate 01", "isolate 05"]


@needs_db
def test_drops_into_a_folder_form_a_batch(stack: Stack) -> None:
    token = stack.shared["alice_token"]
    for name in ("a.fa.gz", "b.fa.gz"):
        stack.s3().put_object(Bucket=UPLOAD_BUCKET, Key=f"inbox/alice/plate 7/{name}", Body=GENOME.read_bytes())

    def folder_batch() -> dict[str, Any] | None:
        batches = stack.http("GET", "/batches", token=token).body["batches"]
        batch = next((b for b in batches if b["batch_name"] == "plate 7"), None)
        return batch if batch and batch["counts"]["Completed"] == 2 else None

    batch = wait_until("the folder's batch to complete", folder_batch, JOB_SECONDS, interval=0.5)
    assert batch["source"] == "inbox" and batch["total"] == 2
    jobs = stack.http("GET", f"/jobs?batch_id={batch['batch_id']}", token=token).body["jobs"]
    assert sorted(j["job_name"] for j in jobs) == ["a.fa.gz", "b.fa.gz"]


def test_unknown_inbox_user_gets_no_job_and_a_tag(stack: Stack) -> None:
    s3 = stack.s3()
    s3.put_object(Bucket=UPLOAD_BUCKET, Key="inbox/nobody-here/x.fa", Body=b">c\nACGT\n")

    tags = wait_until(
        "the rejected drop to be tagged", lambda: tags_of(s3, UPLOAD_BUCKET, "inbox/nobody-here/x.fa"), JOB_SECONDS
    )
    assert "nobody-here" in " ".join(tags.values())


ODD_METHODS = ("TRACE", "CONNECT", "PROPFIND", "XYZZY")


def raw_request(stack: Stack, method: str, path: str) -> tuple[int, str, Any]:
    """Any method, as a client sends it (urllib refuses some): status, content type, body."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.api_port, timeout=30)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), _json(response.read())
    finally:
        connection.close()


def test_every_method_on_every_route_and_unknown_paths_answer_json(stack: Stack) -> None:
    from chalicelib.gateway.openapi import ROUTES

    some_id = str(uuid.uuid4())
    paths = sorted({r.path.replace("{job_id}", some_id).replace("{user_id}", some_id).replace("{run_id}", some_id)
                    for r in ROUTES})
    assert "/jobs" in paths and len(paths) > 10
    for path in paths + ["/no/such/route", "/jobs/x/y/z"]:
        for method in ODD_METHODS:
            status, content_type, body = raw_request(stack, method, path)
            assert content_type.startswith("application/json"), (method, path, status, body)
            assert isinstance(body, dict) and set(body["error"]) >= {"code", "message"}, (method, path, body)
            known = path in paths
            assert status == (405 if known else 404), (method, path, status, body)
            assert body["error"]["code"] == ("method_not_allowed" if known else "not_found")
    status, _, body = raw_request(stack, "GET", "/no/such/route")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_admin_maintenance_run_is_queued_then_finished_by_the_function(stack: Stack) -> None:
    token = stack.login("admin", ADMIN_PASSWORD)
    reply = stack.http("POST", "/admin/maintenance", {"dry_run": True}, token=token)
    assert reply.status == 202, reply
    location = reply.body["location"]

    def finished() -> dict[str, Any] | None:
        run = stack.http("GET", location, token=token)
        assert run.status == 200, run
        return run.body if run.body["status"] in ("finished", "failed") else None

    run = wait_until("the maintenance run to finish", finished, JOB_SECONDS, interval=0.3)
    assert run["status"] == "finished" and run["report"]["dry_run"] is True, run
    assert run["report"]["tasks"] == ["stalled", "purge", "archive"]


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

"""Jobs HTTP API v1 through the Chalice test client on moto: every route's success and
error paths, per-user isolation, pagination, results of Completed and Archived jobs."""
from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.core import aws
from chalicelib.jobs import lifecycle as jobs, queries, s3layout
from chalicelib.core.clock import FakeClock
from chalicelib.core.settings import get_settings

Headers = dict[str, str]

PREDICTIONS = {
    "job_id": "x",
    "database": {"name": "resfinder", "version": "2.4.0"},
    "genes": [{"gene": "blaKPC-2", "contig": "c1", "start": 1, "end": 882, "identity": 100.0, "coverage": 100.0}],
    "resistance": {"Beta-lactam": ["Imipenem", "Meropenem"]},
    "stats": {"contigs": 1, "bases": 5000, "segments": 1, "seconds": 0.1},
}


def call(client: Any, method: str, path: str, headers: Headers | None = None, body: Any = None) -> Any:
    raw = body if isinstance(body, (bytes, str)) else (json.dumps(body).encode() if body is not None else b"")
    return client.http.request(method, path, headers=headers or {}, body=raw)


def payload(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def submit(client: Any, headers: Headers, **body: Any) -> dict[str, Any]:
    body.setdefault("job_name", "sample")
    response = call(client, "POST", "/jobs", headers, body)
    assert response.status_code == 201, response.body
    return payload(response)["job"]


def error_code(response: Any) -> str:
    return payload(response)["error"]["code"]


def move(job_id: str, *statuses: str, **fields: Any) -> None:
    for status in statuses:
        jobs.transition(job_id, status, **(fields if status == statuses[-1] else {}))


def s3_keys(bucket: str, prefix: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in listed.get("Contents", [])]


# --- POST /jobs ---------------------------------------------------------------


def test_create_job_returns_job_and_presigned_post_for_its_key(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    response = call(client, "POST", "/jobs", headers, {"job_name": "K. pneumoniae 1", "filename": "kp1.fna.gz"})
    assert response.status_code == 201
    body = payload(response)
    job, upload = body["job"], body["upload"]
    uuid.UUID(job["job_id"])
    key = s3layout.upload_key(user_id, job["job_id"], "kp1.fna.gz")
    assert job["status"] == "Submitted" and job["progress"] == 0
    assert job["input"] == {"filename": "kp1.fna.gz", "key": key, "size": None, "mate": None}
    assert job["params"] == {
        "model_name": "resfinder", "segment_length": 100000, "segment_overlap": 5000, "batch_size": 16,
        "use_cpu": True, "min_identity": 0.9, "min_coverage": 0.6, "species": "other", "point_mutations": False,
        "min_depth": 2.0, "min_allele_fraction": 0.3,
    }
    assert "mate_upload" not in body
    assert job["created_at"] == "2026-11-24T12:00:00.000Z" and job["started_at"] is None
    assert upload["fields"]["key"] == key and upload["expires_in"] == 3600
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, s3layout.DEFAULT_MAX_UPLOAD_BYTES] in policy["conditions"]
    assert upload["max_bytes"] == s3layout.DEFAULT_MAX_UPLOAD_BYTES
    stored = queries.get_job(job["job_id"])
    assert stored.user_id == user_id and stored.input_key == key and stored.job_name == "K. pneumoniae 1"


def test_create_job_defaults_filename_and_keeps_given_params(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    job = submit(client, headers, job_name="  Клебсиелла 🧬  ", params={"segment_length": 2000, "segment_overlap": 0,
                                                                      "min_identity": 1})
    assert job["input"]["filename"] == "genome.fasta"
    assert job["job_name"] == "Клебсиелла 🧬"
    assert job["params"]["segment_length"] == 2000 and job["params"]["segment_overlap"] == 0
    assert job["params"]["min_identity"] == 1.0 and job["params"]["batch_size"] == 16


def test_create_job_species_in_resfinders_spelling_is_stored_as_its_pointfinder_key(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    job = submit(client, headers, job_name="E. coli 7", params={"species": "Escherichia coli"})
    assert (job["params"]["species"], job["params"]["point_mutations"]) == ("escherichia_coli", True)
    job = submit(client, headers, job_name="Kp", params={"species": "Klebsiella pneumoniae", "point_mutations": False})
    assert (job["params"]["species"], job["params"]["point_mutations"]) == ("klebsiella", False)


@pytest.mark.parametrize(
    "params, words",
    [({"species": "Escherichia martiana"}, ["params.species", "escherichia_coli", "klebsiella", "other"]),
     ({"point_mutations": True}, ["point_mutations needs a species"]),
     ({"species": 7}, ["params.species"]),
     ({"species": "salmonella", "point_mutations": "yes"}, ["params.point_mutations"])],
)
def test_create_job_invalid_species_is_400_naming_the_accepted_values(
    client: Any, make_user: Any, params: dict[str, Any], words: list[str]
) -> None:
    _, headers = make_user()
    response = call(client, "POST", "/jobs", headers, {"job_name": "x", "params": params})
    assert response.status_code == 400
    message = payload(response)["error"]["message"]
    assert all(w in message for w in words), message


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"job_name": "a", "params": {"segment_length": 100, "segment_overlap": 100}}, "params"),
        ({"job_name": "a", "params": {"segment_length": "100"}}, "params.segment_length"),
        ({"job_name": "a", "params": {"batch_size": True}}, "params.batch_size"),
        ({"job_name": "a", "params": {"batch_size": 0}}, "params.batch_size"),
        ({"job_name": "a", "params": {"segment_length": 10**30}}, "params.segment_length"),
        ({"job_name": "a", "params": {"segment_overlap": -1}}, "params.segment_overlap"),
        ({"job_name": "a", "params": {"min_coverage": 1.5}}, "params.min_coverage"),
        ({"job_name": "a", "params": {"model_name": "card"}}, "params.model_name"),
        ({"job_name": "a", "params": {"threads": 4}}, "params.threads"),
        ({"job_name": "a", "params": [1]}, "params"),
        ({"job_name": "a", "owner": "someone"}, "owner"),
        ({"job_name": ""}, "job_name"),
        ({"job_name": "   "}, "job_name"),
        ({"job_name": "x" * 129}, "job_name"),
        ({"job_name": "tab\there"}, "job_name"),
        ({"job_name": 7}, "job_name"),
        ({}, "job_name"),
        ({"job_name": "a", "filename": "../../etc/passwd.fasta"}, "filename"),
        ({"job_name": "a", "filename": "notes.txt"}, "filename"),
        ({"job_name": "a", "filename": ".hidden.fasta"}, "filename"),
    ],
)
def test_create_job_rejects_invalid_bodies_naming_the_field(
    client: Any, make_user: Any, body: dict[str, Any], field: str
) -> None:
    user_id, headers = make_user()
    response = call(client, "POST", "/jobs", headers, body)
    assert response.status_code == 400, response.body
    error = payload(response)["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"] == field for d in error["details"]), error
    assert queries.list_user_jobs(user_id).items == []


def test_create_job_overlap_rule_message_comes_from_the_predictor(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    response = call(client, "POST", "/jobs", headers, {"job_name": "a", "params": {"segment_length": 10, "segment_overlap": 10}})
    assert response.status_code == 400
    assert "segment_overlap must be < segment_length" in payload(response)["error"]["message"]


@pytest.mark.parametrize(
    ("content_type", "raw", "status"),
    [
        ("text/plain", b'{"job_name": "a"}', 415),
        ("application/json", b'{"job_name": ', 400),
        ("application/json", b"[1, 2]", 400),
        ("application/json", b"", 400),
        ("application/json", b"\xff\xfe", 400),
        ("application/json", b"[" * 50_000, 400),
        ("application/json", b'{"job_name": "' + b"x" * 70_000 + b'"}', 400),
        ("application/json", b'{"job_name": "\\ud800"}', 400),
        ("application/json", b'{"job_name": "a", "params": {"min_identity": NaN}}', 400),
    ],
)
def test_create_job_malformed_requests_are_4xx(
    client: Any, make_user: Any, content_type: str, raw: bytes, status: int
) -> None:
    _, headers = make_user()
    response = call(client, "POST", "/jobs", {**headers, "Content-Type": content_type}, raw)
    assert response.status_code == status, response.body
    assert set(payload(response)["error"]) >= {"code", "message"}


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_job_routes_need_a_valid_token(client: Any, aws_env: None, authorization: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    for method, path in [("POST", "/jobs"), ("GET", "/jobs"), ("GET", f"/jobs/{uuid.uuid4()}"), ("GET", "/stats")]:
        response = call(client, method, path, headers, {"job_name": "a"} if method == "POST" else None)
        assert response.status_code == 401, (method, path)
        assert error_code(response) in ("unauthorized", "invalid_token")


# --- GET /jobs/{id}, isolation ----------------------------------------------------


def test_get_job_owner_admin_and_stranger(client: Any, make_user: Any) -> None:
    _, alice = make_user()
    _, bob = make_user()
    _, admin = make_user(role="admin")
    job = submit(client, alice)
    path = f"/jobs/{job['job_id']}"
    assert payload(call(client, "GET", path, alice)) == job
    assert call(client, "GET", path, admin).status_code == 200
    stranger = call(client, "GET", path, bob)
    assert stranger.status_code == 404 and error_code(stranger) == "not_found"
    assert payload(stranger) == payload(call(client, "GET", f"/jobs/{uuid.uuid4()}", bob))


@pytest.mark.parametrize("job_id", ["nope", "123", quote("../../admin", safe=""), "0" * 36, quote("ü", safe="")])
def test_get_job_with_non_uuid_is_404(client: Any, make_user: Any, job_id: str) -> None:
    _, headers = make_user()
    for suffix in ("", "/logs", "/results"):
        response = call(client, "GET", f"/jobs/{job_id}{suffix}", headers)
        assert response.status_code == 404 and error_code(response) == "not_found"


def test_duration_counts_while_running_and_freezes_when_done(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    move(job["job_id"], "Running")
    fake_clock.advance(seconds=90)
    assert payload(call(client, "GET", f"/jobs/{job['job_id']}", headers))["duration_seconds"] == 90.0
    move(job["job_id"], "Completed")
    fake_clock.advance(seconds=500)
    shown = payload(call(client, "GET", f"/jobs/{job['job_id']}", headers))
    assert shown["duration_seconds"] == 90.0 and shown["progress"] == 100 and shown["status"] == "Completed"


# --- GET /jobs -----------------------------------------------------------------


def test_list_is_newest_first_paginated_and_only_the_callers(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, alice = make_user()
    _, bob = make_user()
    created = []
    for i in range(5):
        created.append(submit(client, alice, job_name=f"a{i}")["job_id"])
        submit(client, bob, job_name=f"b{i}")
        fake_clock.advance(seconds=1)
    seen, token, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&next_token={quote(token)}" if token else "")
        body = payload(call(client, "GET", "/jobs" + query, alice))
        assert len(body["jobs"]) <= 2
        seen += [j["job_id"] for j in body["jobs"]]
        pages += 1
        token = body["next_token"]
        if token is None:
            break
    assert seen == list(reversed(created)) and pages >= 3
    assert all(j["job_name"].startswith("b") for j in payload(call(client, "GET", "/jobs", bob))["jobs"])


def test_list_filters_by_status(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, headers = make_user()
    first = submit(client, headers)["job_id"]
    fake_clock.advance(seconds=1)
    second = submit(client, headers)["job_id"]
    move(first, "Running")
    running = payload(call(client, "GET", "/jobs?status=Running", headers))["jobs"]
    submitted = payload(call(client, "GET", "/jobs?status=Submitted", headers))["jobs"]
    assert [j["job_id"] for j in running] == [first] and [j["job_id"] for j in submitted] == [second]
    assert len(payload(call(client, "GET", "/jobs", headers))["jobs"]) == 2


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-1", "limit=abc", "limit=1e3", "status=running", "status=Deleted",
     "sort=asc", "next_token=garbage", "next_token=" + "A" * 3000],
)
def test_list_rejects_bad_queries(client: Any, make_user: Any, query: str) -> None:
    _, headers = make_user()
    response = call(client, "GET", f"/jobs?{query}", headers)
    assert response.status_code == 400, response.body
    assert error_code(response) in ("validation_error", "invalid_token")


def test_list_rejects_tampered_and_foreign_page_tokens(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, alice = make_user()
    _, bob = make_user()
    for _ in range(3):
        submit(client, alice)
        submit(client, bob)
        fake_clock.advance(seconds=1)
    token = payload(call(client, "GET", "/jobs?limit=1", alice))["next_token"]
    assert token
    body, sig = token.split(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    for headers, query in [(alice, f"next_token={quote(tampered)}"), (bob, f"next_token={quote(token)}"),
                           (alice, f"status=Submitted&next_token={quote(token)}")]:
        response = call(client, "GET", f"/jobs?limit=1&{query}", headers)
        assert response.status_code == 400 and error_code(response) == "invalid_token", query


# --- cancel ------------------------------------------------------------------------


@pytest.mark.parametrize("path", [[], ["Running"]])
def test_cancel_submitted_or_running_job(client: Any, make_user: Any, path: list[str]) -> None:
    _, headers = make_user(username="carol")
    job = submit(client, headers)
    move(job["job_id"], *path)
    response = call(client, "POST", f"/jobs/{job['job_id']}/cancel", headers)
    assert response.status_code == 202
    assert payload(response)["status"] == "Cancelled" and payload(response)["completed_at"]
    assert queries.get_job(job["job_id"]).status == "Cancelled"
    events = payload(call(client, "GET", f"/jobs/{job['job_id']}/logs", headers))["events"]
    assert "Cancelled by carol" in events[-1]["message"]


@pytest.mark.parametrize("path", [["Running", "Completed"], ["Running", "Error"], ["Cancelled"],
                                  ["Running", "Completed", "Archived"]])
def test_cancel_terminal_job_is_409(client: Any, make_user: Any, path: list[str]) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    move(job["job_id"], *path)
    response = call(client, "POST", f"/jobs/{job['job_id']}/cancel", headers)
    assert response.status_code == 409 and error_code(response) == "conflict"
    assert queries.get_job(job["job_id"]).status == path[-1]


def test_cancel_someone_elses_job_is_404_and_changes_nothing(client: Any, make_user: Any) -> None:
    _, alice = make_user()
    _, bob = make_user()
    job = submit(client, alice)
    assert call(client, "POST", f"/jobs/{job['job_id']}/cancel", bob).status_code == 404
    assert queries.get_job(job["job_id"]).status == "Submitted"


def test_cancel_retries_when_the_job_started_meanwhile(client: Any, make_user: Any, monkeypatch: Any) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    real_get_for = queries.get_job_for

    def stale_read(*args: Any, **kwargs: Any) -> Any:
        stale = real_get_for(*args, **kwargs)
        move(job["job_id"], "Running")  # the prediction starts between our read and our write
        return stale

    monkeypatch.setattr(queries, "get_job_for", stale_read)
    response = call(client, "POST", f"/jobs/{job['job_id']}/cancel", headers)
    assert response.status_code == 202 and payload(response)["status"] == "Cancelled"


# --- delete --------------------------------------------------------------------------


def _put_objects(user_id: str, job_id: str) -> None:
    settings = get_settings()
    s3layout.put_object(settings.upload_bucket, s3layout.upload_key(user_id, job_id, "genome.fasta"), b">c\nACGT\n", "text/plain")
    s3layout.put_object(settings.results_bucket, s3layout.result_key(user_id, job_id, "predictions.json"), b"{}", "application/json")
    s3layout.put_object(settings.archive_bucket, s3layout.archive_prefix(user_id, job_id) + "predictions.json.gz", b"x", "application/gzip")


def test_delete_removes_record_events_and_every_object(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    job = submit(client, headers)
    other = submit(client, headers)
    for j in (job, other):
        _put_objects(user_id, j["job_id"])
    move(job["job_id"], "Running", "Completed")
    response = call(client, "DELETE", f"/jobs/{job['job_id']}", headers)
    assert response.status_code == 204 and response.body in (b"", "")
    assert call(client, "GET", f"/jobs/{job['job_id']}", headers).status_code == 404
    assert queries.list_events(job["job_id"]).items == []
    for bucket, prefix in s3layout.job_prefixes(user_id, job["job_id"]):
        assert s3_keys(bucket, prefix) == []
    for bucket, prefix in s3layout.job_prefixes(user_id, other["job_id"]):
        assert len(s3_keys(bucket, prefix)) == 1  # the neighbour is untouched
    assert payload(call(client, "GET", "/stats", headers))["by_status"]["Completed"] == 0
    assert call(client, "DELETE", f"/jobs/{job['job_id']}", headers).status_code == 404


def test_delete_removes_an_inbox_input_only_while_it_is_this_jobs(client: Any, make_user: Any) -> None:
    from chalicelib.maintenance.tasks import INPUT_TAG_JOB

    user_id, headers = make_user(username="dora")
    bucket = get_settings().upload_bucket
    s3 = aws.client("s3")
    owned = jobs.create_job(user_id=user_id, job_name="a", params={}, input_key="inbox/dora/a.fasta", source="inbox")
    replaced = jobs.create_job(user_id=user_id, job_name="b", params={}, input_key="inbox/dora/b.fasta", source="inbox")
    s3.put_object(Bucket=bucket, Key="inbox/dora/a.fasta", Body=b">a\nAC\n", Tagging=f"{INPUT_TAG_JOB}={owned.job_id}")
    s3.put_object(Bucket=bucket, Key="inbox/dora/b.fasta", Body=b">b\nAC\n", Tagging=f"{INPUT_TAG_JOB}={uuid.uuid4()}")
    for job in (owned, replaced):
        assert call(client, "DELETE", f"/jobs/{job.job_id}", headers).status_code == 204
    assert s3_keys(bucket, "inbox/dora/") == ["inbox/dora/b.fasta"]  # a newer drop's input stays


def test_delete_running_job_is_409_and_keeps_everything(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    job = submit(client, headers)
    _put_objects(user_id, job["job_id"])
    move(job["job_id"], "Running")
    response = call(client, "DELETE", f"/jobs/{job['job_id']}", headers)
    assert response.status_code == 409
    assert queries.get_job(job["job_id"]).status == "Running"
    assert s3_keys(get_settings().upload_bucket, f"uploads/{user_id}/{job['job_id']}/")


def test_delete_someone_elses_job_is_404_admin_may(client: Any, make_user: Any) -> None:
    _, alice = make_user()
    _, bob = make_user()
    _, admin = make_user(role="admin")
    job = submit(client, alice)
    assert call(client, "DELETE", f"/jobs/{job['job_id']}", bob).status_code == 404
    assert queries.get_job(job["job_id"]).status == "Submitted"
    assert call(client, "DELETE", f"/jobs/{job['job_id']}", admin).status_code == 204
    assert call(client, "GET", f"/jobs/{job['job_id']}", alice).status_code == 404


# --- logs ------------------------------------------------------------------------------


def test_logs_are_oldest_first_and_paginated(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    for i in range(3):
        fake_clock.advance(seconds=1)
        jobs.append_event(job["job_id"], f"step {i}", data={"i": i})
    messages, token = [], None
    while True:
        query = "?limit=2" + (f"&next_token={quote(token)}" if token else "")
        response = call(client, "GET", f"/jobs/{job['job_id']}/logs{query}", headers)
        assert response.status_code == 200
        body = payload(response)
        messages += [e["message"] for e in body["events"]]
        token = body["next_token"]
        if not token:
            break
    assert messages[0].startswith("Job submitted") and messages[1:] == ["step 0", "step 1", "step 2"]
    first = payload(call(client, "GET", f"/jobs/{job['job_id']}/logs", headers))["events"]
    assert [e["timestamp"] for e in first] == sorted(e["timestamp"] for e in first)
    assert first[1]["data"] == {"i": 0} and first[1]["level"] == "INFO"


def test_logs_errors(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, alice = make_user()
    _, bob = make_user()
    job, other = submit(client, alice), submit(client, alice)
    for _ in range(2):
        jobs.append_event(job["job_id"], "x")
    assert call(client, "GET", f"/jobs/{job['job_id']}/logs", bob).status_code == 404
    assert call(client, "GET", f"/jobs/{job['job_id']}/logs?limit=0", alice).status_code == 400
    token = payload(call(client, "GET", f"/jobs/{job['job_id']}/logs?limit=1", alice))["next_token"]
    foreign = call(client, "GET", f"/jobs/{other['job_id']}/logs?next_token={quote(token)}", alice)
    assert foreign.status_code == 400 and error_code(foreign) == "invalid_token"


# --- results ------------------------------------------------------------------------------


def _complete_with_results(user_id: str, job_id: str) -> list[str]:
    bucket = get_settings().results_bucket
    keys = []
    for name in ("predictions.json", "predictions.tsv", "hamronization.tsv"):
        key = s3layout.result_key(user_id, job_id, name)
        body = json.dumps({**PREDICTIONS, "job_id": job_id}).encode() if name.endswith(".json") else b"a\tb\n"
        s3layout.put_object(bucket, key, body, "text/plain")
        keys.append(key)
    move(job_id, "Running", "Completed", result_keys=keys, summary={"genes": 1})
    return keys


def test_results_of_completed_job(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    job = submit(client, headers)
    keys = _complete_with_results(user_id, job["job_id"])
    response = call(client, "GET", f"/jobs/{job['job_id']}/results", headers)
    assert response.status_code == 200
    body = payload(response)
    assert body["genes"] == PREDICTIONS["genes"] and body["job_id"] == job["job_id"]
    assert set(body["download_urls"]) == {"predictions.json", "predictions.tsv", "hamronization.tsv"}
    for key in keys:
        url = body["download_urls"][key.rsplit("/", 1)[-1]]
        assert get_settings().results_bucket in url and quote(key, safe="/") in url and "Signature" in url
    assert payload(call(client, "GET", f"/jobs/{job['job_id']}", headers))["summary"] == {"genes": 1}


def test_results_of_archived_job_come_from_the_archive(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    job = submit(client, headers)
    keys = _complete_with_results(user_id, job["job_id"])
    settings = get_settings()
    archive_keys = []
    for key in keys:
        name = key.rsplit("/", 1)[-1]
        data = s3layout.get_object_bytes(settings.results_bucket, key)
        archived = s3layout.archive_prefix(user_id, job["job_id"]) + name + ".gz"
        s3layout.put_object(settings.archive_bucket, archived, gzip.compress(data), "application/gzip")
        aws.client("s3").delete_object(Bucket=settings.results_bucket, Key=key)
        archive_keys.append(archived)
    move(job["job_id"], "Archived", archive_keys=archive_keys)
    response = call(client, "GET", f"/jobs/{job['job_id']}/results", headers)
    assert response.status_code == 200, response.body
    body = payload(response)
    assert body["resistance"] == PREDICTIONS["resistance"]
    assert set(body["download_urls"]) == {"predictions.json.gz", "predictions.tsv.gz", "hamronization.tsv.gz"}
    assert all(settings.archive_bucket in url for url in body["download_urls"].values())


@pytest.mark.parametrize("path", [[], ["Running"], ["Running", "Error"], ["Cancelled"]])
def test_results_before_completion_is_409(client: Any, make_user: Any, path: list[str]) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    move(job["job_id"], *path)
    response = call(client, "GET", f"/jobs/{job['job_id']}/results", headers)
    assert response.status_code == 409 and error_code(response) == "conflict"


def test_results_missing_or_corrupt_objects_are_404_not_500(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    missing, corrupt = submit(client, headers), submit(client, headers)
    move(missing["job_id"], "Running", "Completed")
    keys = _complete_with_results(user_id, corrupt["job_id"])
    s3layout.put_object(get_settings().results_bucket, keys[0], b"{not json", "application/json")
    for job in (missing, corrupt):
        response = call(client, "GET", f"/jobs/{job['job_id']}/results", headers)
        assert response.status_code == 404 and error_code(response) == "not_found"


def test_results_of_someone_elses_job_is_404(client: Any, make_user: Any) -> None:
    user_id, alice = make_user()
    _, bob = make_user()
    job = submit(client, alice)
    _complete_with_results(user_id, job["job_id"])
    assert call(client, "GET", f"/jobs/{job['job_id']}/results", bob).status_code == 404


# --- stats ------------------------------------------------------------------------------------


def test_stats_for_user_and_admin(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    user_id, alice = make_user()
    _, bob = make_user()
    _, admin = make_user(role="admin")
    done = submit(client, alice)
    jobs.transition(done["job_id"], "Running")
    fake_clock.advance(seconds=30)
    jobs.transition(done["job_id"], "Completed")
    failed = submit(client, alice)
    move(failed["job_id"], "Running", "Error", error="bad FASTA")
    submit(client, bob)
    mine = payload(call(client, "GET", "/stats", alice))
    assert mine["scope"] == "mine" and mine["total"] == 2
    assert mine["by_status"]["Completed"] == 1 and mine["by_status"]["Error"] == 1
    assert mine["success_rate"] == 0.5 and mine["avg_duration_seconds"] == 30.0
    assert mine["top_models"] == [{"model_name": "resfinder", "count": 2}]
    denied = call(client, "GET", "/stats?scope=all", alice)
    assert denied.status_code == 403 and error_code(denied) == "forbidden"
    everyone = payload(call(client, "GET", "/stats?scope=all", admin))
    assert everyone["scope"] == "all" and everyone["total"] == 3 and everyone["by_status"]["Submitted"] == 1
    assert call(client, "GET", "/stats?scope=everyone", alice).status_code == 400


# --- health and document -----------------------------------------------------------------------------


def test_health_is_public_and_ok(client: Any, aws_env: None) -> None:
    response = call(client, "GET", "/health")
    assert response.status_code == 200
    assert payload(response) == {"status": "ok", "checks": {"dynamodb": {"status": "ok"}, "s3": {"status": "ok"}}}


def test_health_names_an_unreachable_bucket_with_503(client: Any, aws_env: None) -> None:
    aws.client("s3").delete_bucket(Bucket=get_settings().upload_bucket)
    response = call(client, "GET", "/health")
    assert response.status_code == 503
    body = payload(response)
    assert body["status"] == "unavailable" and body["checks"]["dynamodb"]["status"] == "ok"
    assert body["checks"]["s3"]["status"] == "error"
    assert body["error"]["code"] == "storage_unavailable" and "s3" in body["error"]["message"]


def test_health_names_an_unreachable_table_with_503(client: Any, aws_env: None) -> None:
    aws.client("dynamodb").delete_table(TableName=get_settings().jobs_table)
    response = call(client, "GET", "/health")
    assert response.status_code == 503
    body = payload(response)
    assert body["checks"]["dynamodb"]["status"] == "error" and body["checks"]["s3"]["status"] == "ok"
    assert body["error"]["details"] == {"unreachable": ["dynamodb"]}


def test_storage_outage_on_a_job_route_is_503_not_500(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    job = submit(client, headers)
    aws.client("dynamodb").delete_table(TableName=get_settings().jobs_table)
    response = call(client, "GET", f"/jobs/{job['job_id']}", headers)
    assert response.status_code == 503 and error_code(response) == "storage_unavailable"


def test_openapi_json_is_public(client: Any, aws_env: None) -> None:
    from chalicelib.gateway import openapi

    response = call(client, "GET", "/openapi.json")
    assert response.status_code == 200
    assert payload(response) == openapi.document()


# --- GET /jobs?scope=all (administrators) ------------------------------------------------


def test_admins_list_every_users_jobs_of_one_status_newest_first(
    client: Any, make_user: Any, fake_clock: FakeClock
) -> None:
    _, alice = make_user("alice")
    _, bob = make_user("bob")
    _, admin = make_user("root", role="admin")
    running = []
    for n, headers in enumerate((alice, bob, alice, bob, alice)):
        job = submit(client, headers, job_name=f"j{n}")
        fake_clock.advance(seconds=1)
        move(job["job_id"], "Running")
        running.append(job["job_id"])
    submit(client, bob, job_name="still submitted")

    seen, token = [], None
    for _ in range(4):
        query = "/jobs?scope=all&status=Running&limit=2" + (f"&next_token={quote(token)}" if token else "")
        response = call(client, "GET", query, admin)
        assert response.status_code == 200, response.body
        body = payload(response)
        seen += [(j["job_id"], j["user_id"], j["status"]) for j in body["jobs"]]
        token = body["next_token"]
        if not token:
            break
    assert [s[0] for s in seen] == running[::-1], "every user's Running jobs, newest first, each once"
    assert {s[2] for s in seen} == {"Running"} and len({s[1] for s in seen}) == 2

    mine = payload(call(client, "GET", "/jobs?status=Running", admin))
    assert mine["jobs"] == [], "without scope=all an admin lists only their own jobs"


def test_scope_all_is_for_admins_and_needs_a_status(client: Any, make_user: Any) -> None:
    _, user = make_user()
    _, admin = make_user(role="admin")
    response = call(client, "GET", "/jobs?scope=all&status=Running", user)
    assert response.status_code == 403 and error_code(response) == "forbidden"
    response = call(client, "GET", "/jobs?scope=all", admin)
    assert response.status_code == 400 and error_code(response) == "validation_error"
    assert "status" in payload(response)["error"]["message"] + json.dumps(payload(response)["error"].get("details"))
    for bad in ("scope=everyone&status=Running", "scope=ALL&status=Running", "scope=all&status=running"):
        response = call(client, "GET", f"/jobs?{bad}", admin)
        assert response.status_code == 400, bad


def test_a_page_token_of_one_listing_is_refused_by_another(client: Any, make_user: Any) -> None:
    _, admin = make_user(role="admin")
    for n in range(3):
        move(submit(client, admin, job_name=f"j{n}")["job_id"], "Running")
    token = payload(call(client, "GET", "/jobs?scope=all&status=Running&limit=1", admin))["next_token"]
    assert token
    for other in ("/jobs?status=Running", "/jobs?scope=all&status=Submitted", "/jobs"):
        response = call(client, "GET", f"{other}{'&' if '?' in other else '?'}next_token={quote(token)}", admin)
        assert response.status_code == 400 and error_code(response) == "invalid_token", other


def test_an_unsupported_method_is_405_before_authentication(client: Any, make_user: Any) -> None:
    _, user = make_user()
    for method in ("TRACE", "CONNECT", "PROPFIND", "XYZZY", "PUT"):
        for headers in ({}, user):
            response = call(client, method, "/jobs", headers)
            assert response.status_code == 405, (method, response.body)
            assert error_code(response) == "method_not_allowed"
            assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}

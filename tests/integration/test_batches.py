"""Batches (design §13) through the Chalice test client on moto, with real predictions."""
from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from chalicelib.batches import store
from chalicelib.core import aws
from chalicelib.core.clock import FakeClock
from chalicelib.core.errors import NotFound
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import BatchModel, CounterModel, JobModel
from chalicelib.jobs import counters, lifecycle as jobs, queries
from chalicelib.maintenance import tasks as maintenance
from chalicelib.prediction import intake, outcomes
from chalicelib.prediction.resfinder_db import load_db
from tests.integration.test_intake import DB_PRESENT, SMALL_PARAMS, fasta, put
from tests.unit.test_acquired import KPC, insert, random_dna

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")

PARAMS = {k: v for k, v in SMALL_PARAMS.items()}


@pytest.fixture(scope="module")
def genomes() -> dict[str, bytes]:
    """One genome carrying blaKPC-2 (carbapenem resistance), one carrying nothing."""
    kpc = load_db().alleles[KPC].sequence
    return {
        "kpc": fasta({"c1": insert(random_dna(6000, 1), 2000, kpc)}),
        "plain": fasta({"c1": random_dna(6000, 2)}),
    }


def body(samples: list[dict[str, Any]] | None = None, **extra: Any) -> str:
    names = ["s1", "s2", "s3"]
    return json.dumps({
        "batch_name": "run 42",
        "params": PARAMS,
        "samples": samples if samples is not None else [{"name": n, "filename": f"{n}.fasta"} for n in names],
        **extra,
    })


def create(client: Any, headers: dict[str, str], samples: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    response = client.http.post("/batches", headers=headers, body=body(samples))
    assert response.status_code == 201, response.body
    return response.json_body


def upload(job: dict[str, Any], data: bytes) -> outcomes.Outcome:
    event = put(job["input"]["key"], data)
    (outcome,) = intake.handle_upload_event(event, None)
    return outcome


def get(client: Any, path: str, headers: dict[str, str]) -> Any:
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200, response.body
    return response.json_body


def test_create_show_and_list_jobs_of_a_batch(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    created = create(client, headers)
    batch = created["batch"]
    assert batch["batch_name"] == "run 42" and batch["user_id"] == user_id and batch["source"] == "api"
    assert batch["total"] == 3 and batch["counts"]["Submitted"] == 3 and batch["status"] == "Submitted"
    assert batch["progress"] == 0 and batch["timing"]["started_at"] is None
    assert [j["job"]["job_name"] for j in created["jobs"]] == ["s1", "s2", "s3"]
    for opened in created["jobs"]:
        job = opened["job"]
        assert job["batch_id"] == batch["batch_id"] and job["params"]["segment_length"] == 5000
        assert opened["upload"]["fields"]["key"] == job["input"]["key"]
    listed = get(client, f"/jobs?batch_id={batch['batch_id']}", headers)["jobs"]
    assert [j["job_name"] for j in listed] == ["s1", "s2", "s3"]
    page = get(client, f"/jobs?batch_id={batch['batch_id']}&limit=2", headers)
    assert len(page["jobs"]) == 2 and page["next_token"]
    assert get(client, f"/batches/{batch['batch_id']}", headers)["counts"] == batch["counts"]
    assert queries.get_stats(queries.user_scope(user_id))["by_status"]["Submitted"] == 3


def test_batch_completes_and_its_matrix_agrees_with_each_job(
    client: Any, make_user: Any, genomes: dict[str, bytes]
) -> None:
    _, headers = make_user()
    created = create(client, headers)
    batch_id = created["batch"]["batch_id"]
    first, second, third = created["jobs"]
    assert upload(first["job"], genomes["kpc"]).outcome == outcomes.COMPLETED

    partial = get(client, f"/batches/{batch_id}/matrix", headers)
    assert [r["status"] for r in partial["rows"]] == ["Completed", "Submitted", "Submitted"]
    assert partial["rows"][0]["genes"] == ["blaKPC-2"]
    assert set(partial["rows"][1]["calls"].values()) == {""}  # not finished: every cell empty
    shown = get(client, f"/batches/{batch_id}", headers)
    assert shown["status"] == "Running" and shown["progress"] == pytest.approx(33.33)

    assert upload(second["job"], genomes["plain"]).outcome == outcomes.COMPLETED
    assert upload(third["job"], b"not a genome\n").outcome == outcomes.FAILED
    matrix = get(client, f"/batches/{batch_id}/matrix", headers)
    rows = {r["sample"]: r for r in matrix["rows"]}
    for opened in (first, second):
        results = get(client, f"/jobs/{opened['job']['job_id']}/results", headers)
        table = {p["antimicrobial"]: p["phenotype"] for p in results["phenotypes"]}
        row = rows[opened["job"]["job_name"]]
        assert set(row["calls"]) == set(table) == set(matrix["antibiotics"])
        assert {a for a, c in row["calls"].items() if c == "R"} == {a for a, p in table.items() if p == "Resistant"}
        assert {a for a, c in row["calls"].items() if c == "S"} == {a for a, p in table.items() if p == "No resistance"}
    assert rows["s1"]["calls"]["meropenem"] == "R" and rows["s2"]["calls"]["meropenem"] == "S"
    assert rows["s3"]["status"] == "Error" and rows["s3"]["error"] and set(rows["s3"]["calls"].values()) == {""}

    done = get(client, f"/batches/{batch_id}", headers)
    assert done["status"] == "Finished" and done["progress"] == 100
    assert done["counts"]["Completed"] == 2 and done["counts"]["Error"] == 1
    assert done["timing"]["finished_at"] is not None and done["timing"]["job_seconds_mean"] is not None

    response = client.http.get(f"/batches/{batch_id}/matrix?format=tsv", headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/tab-separated-values")
    assert 'filename="run_42-matrix.tsv"' in response.headers["Content-Disposition"]
    lines = response.body.decode().splitlines()
    header = lines[0].split("\t")
    assert header[:4] == ["sample", "status", "st", "replicons"] and header[-3:] == ["genes", "mutations", "job_id"]
    s1 = dict(zip(header, lines[1].split("\t")))
    assert s1["sample"] == "s1" and s1["meropenem"] == "R" and s1["genes"] == "blaKPC-2"
    assert s1["st"] == "" and s1["replicons"] == ""  # a KPC gene in random DNA: no MLST locus, no replicon
    assert len(lines) == 4


def test_concurrent_completions_keep_counts_exact(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    samples = [{"name": f"isolate-{i:02d}", "filename": f"i{i}.fasta"} for i in range(24)]
    created = create(client, headers, samples)
    batch_id = created["batch"]["batch_id"]
    ids = [j["job"]["job_id"] for j in created["jobs"]]
    for job_id in ids:
        jobs.transition(job_id, jobs.RUNNING)
    errors: list[BaseException] = []

    def finish(job_id: str) -> None:
        try:
            jobs.transition(job_id, jobs.COMPLETED)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(job_id,)) for job_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = get(client, f"/batches/{batch_id}", headers)["counts"]
    assert counts["Completed"] == 24 and counts["Running"] == 0 and counts["Submitted"] == 0


def test_duplicated_upload_events_count_once(client: Any, make_user: Any, genomes: dict[str, bytes]) -> None:
    _, headers = make_user()
    created = create(client, headers, [{"name": "only", "filename": "only.fasta"}])
    job = created["jobs"][0]["job"]
    event = put(job["input"]["key"], genomes["plain"])
    assert intake.handle_upload_event(event, None)[0].outcome == outcomes.COMPLETED
    assert intake.handle_upload_event(event, None)[0].outcome != outcomes.COMPLETED
    counts = get(client, f"/batches/{created['batch']['batch_id']}", headers)["counts"]
    assert counts == {"Submitted": 0, "Running": 0, "Completed": 1, "Error": 0, "Archived": 0, "Cancelled": 0}


def test_cancel_cancels_only_unfinished_jobs(client: Any, make_user: Any, genomes: dict[str, bytes]) -> None:
    _, headers = make_user()
    created = create(client, headers)
    batch_id = created["batch"]["batch_id"]
    upload(created["jobs"][0]["job"], genomes["plain"])
    jobs.transition(created["jobs"][1]["job"]["job_id"], jobs.RUNNING)
    response = client.http.post(f"/batches/{batch_id}/cancel", headers=headers)
    assert response.status_code == 202
    batch = response.json_body
    assert batch["counts"]["Completed"] == 1 and batch["counts"]["Cancelled"] == 2
    assert batch["status"] == "Cancelled" and batch["cancelled_at"]
    statuses = [get(client, f"/jobs/{j['job']['job_id']}", headers)["status"] for j in created["jobs"]]
    assert statuses == ["Completed", "Cancelled", "Cancelled"]


def test_delete_removes_every_job_event_object_and_count(
    client: Any, make_user: Any, genomes: dict[str, bytes]
) -> None:
    user_id, headers = make_user()
    created = create(client, headers)
    batch_id = created["batch"]["batch_id"]
    upload(created["jobs"][0]["job"], genomes["kpc"])
    running = created["jobs"][1]["job"]["job_id"]
    jobs.transition(running, jobs.RUNNING)
    refused = client.http.delete(f"/batches/{batch_id}", headers=headers)
    assert refused.status_code == 409 and "cancel the batch" in refused.json_body["error"]["message"]
    assert get(client, f"/batches/{batch_id}", headers)["total"] == 3  # nothing deleted

    client.http.post(f"/batches/{batch_id}/cancel", headers=headers)
    assert client.http.delete(f"/batches/{batch_id}", headers=headers).status_code == 204
    assert client.http.get(f"/batches/{batch_id}", headers=headers).status_code == 404
    for opened in created["jobs"]:
        assert client.http.get(f"/jobs/{opened['job']['job_id']}", headers=headers).status_code == 404
    settings = get_settings()
    for bucket in (settings.upload_bucket, settings.results_bucket):
        assert aws.client("s3").list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    assert list(CounterModel.batch_get(counters.keys(store.scope(batch_id)))) == []
    assert queries.get_stats(queries.user_scope(user_id))["total"] == 0
    assert get(client, "/batches", headers)["batches"] == []


def test_someone_elses_batch_is_not_found(client: Any, make_user: Any) -> None:
    _, owner = make_user()
    _, other = make_user()
    batch_id = create(client, owner)["batch"]["batch_id"]
    for method, path in [("get", ""), ("get", "/matrix"), ("post", "/cancel"), ("delete", "")]:
        response = getattr(client.http, method)(f"/batches/{batch_id}{path}", headers=other)
        assert response.status_code == 404 and response.json_body["error"]["code"] == "not_found", (method, path)
    assert get(client, f"/jobs?batch_id={batch_id}", other)["jobs"] == []
    assert get(client, "/batches", other)["batches"] == []
    assert get(client, f"/batches/{batch_id}", owner)["counts"]["Submitted"] == 3  # untouched
    assert client.http.get("/batches/not-a-uuid", headers=owner).status_code == 404


@pytest.mark.parametrize(
    "samples, problem",
    [
        ([], "samples"),
        ([{"name": f"s{i}", "filename": f"s{i}.fasta"} for i in range(501)], "samples"),
        ([{"name": "a", "filename": "a.fasta"}, {"name": "A", "filename": "b.fasta"}], "both named 'A'"),
        ([{"name": "a", "filename": "../a.fasta"}], "samples.0.filename"),
        ([{"name": "a", "filename": "a.exe"}], "samples.0.filename"),
        ([{"name": "", "filename": "a.fasta"}], "samples.0.name"),
        ([{"name": "a", "filename": "a.fasta", "colour": "red"}], "samples.0.colour"),
        ([{"name": "a"}], "samples.0.filename"),
    ],
)
def test_invalid_batches_are_refused_with_the_field_named(
    client: Any, make_user: Any, samples: list[dict[str, Any]], problem: str
) -> None:
    _, headers = make_user()
    response = client.http.post("/batches", headers=headers, body=body(samples))
    assert response.status_code == 400, response.body
    assert problem in response.json_body["error"]["message"]
    assert BatchModel.count() == 0 and JobModel.count() == 0  # nothing half-made


def test_invalid_batch_fields_and_queries(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    response = client.http.post("/batches", headers=headers, body=json.dumps({"samples": [{"name": "a", "filename": "a.fa"}]}))
    assert response.status_code == 400 and "batch_name" in response.json_body["error"]["message"]
    response = client.http.post("/batches", headers=headers, body=body(params={"species": "martian"}))
    assert response.status_code == 400
    batch_id = create(client, headers)["batch"]["batch_id"]
    response = client.http.get(f"/batches/{batch_id}/matrix?format=pdf", headers=headers)
    assert response.status_code == 400 and "format" in response.json_body["error"]["message"]
    response = client.http.get(f"/jobs?batch_id={batch_id}&status=Completed", headers=headers)
    assert response.status_code == 400
    assert client.http.get("/jobs?batch_id=nope", headers=headers).status_code == 400


def test_batches_are_listed_newest_first_page_by_page(client: Any, make_user: Any, fake_clock: FakeClock) -> None:
    _, headers = make_user()
    for n in range(3):
        create(client, headers, [{"name": f"b{n}", "filename": "a.fasta"}])
        fake_clock.advance(seconds=1)
    first = get(client, "/batches?limit=2", headers)
    assert [b["batch_name"] for b in first["batches"]] == ["run 42"] * 2 and first["next_token"]
    assert all(b["total"] == 1 for b in first["batches"])
    rest = get(client, f"/batches?limit=2&next_token={first['next_token']}", headers)
    names = [b["created_at"] for b in first["batches"] + rest["batches"]]
    assert names == sorted(names, reverse=True) and len(names) == 3


def test_bucket_drops_in_a_folder_form_one_batch(
    client: Any, make_user: Any, genomes: dict[str, bytes], fake_clock: FakeClock
) -> None:
    user_id, headers = make_user("dropper")
    first = put("inbox/dropper/run7/a.fasta", genomes["kpc"], metadata={"segment-length": "5000", "segment-overlap": "1000"})
    assert intake.handle_upload_event(first, None)[0].outcome == outcomes.COMPLETED
    assert intake.handle_upload_event(first, None)[0].outcome != outcomes.COMPLETED  # duplicated event
    fake_clock.advance(seconds=1)
    second = put("inbox/dropper/run7/b.fasta", genomes["plain"])
    assert intake.handle_upload_event(second, None)[0].outcome == outcomes.COMPLETED
    loose = put("inbox/dropper/c.fasta", genomes["plain"])
    intake.handle_upload_event(loose, None)

    (batch,) = get(client, "/batches", headers)["batches"]
    assert batch["batch_name"] == "run7" and batch["source"] == "inbox" and batch["folder"] == "run7"
    assert batch["batch_id"] == store.inbox_batch_id(user_id, "run7")
    assert batch["counts"]["Completed"] == 2 and batch["total"] == 2
    matrix = get(client, f"/batches/{batch['batch_id']}/matrix", headers)
    assert [r["sample"] for r in matrix["rows"]] == ["a.fasta", "b.fasta"]
    assert matrix["rows"][0]["calls"]["meropenem"] == "R"


def test_maintenance_removes_the_batch_with_its_last_job(
    client: Any, make_user: Any, fake_clock: FakeClock
) -> None:
    _, headers = make_user()
    created = create(client, headers, [{"name": "x", "filename": "x.fasta"}, {"name": "y", "filename": "y.fasta"}])
    batch_id = created["batch"]["batch_id"]
    jobs.transition(created["jobs"][0]["job"]["job_id"], jobs.CANCELLED)
    fake_clock.advance(days=1)
    jobs.transition(created["jobs"][1]["job"]["job_id"], jobs.CANCELLED)
    fake_clock.advance(days=13, hours=12)  # the first past Cancelled retention (14 days), not the second
    assert len(maintenance.run(["purge"]).purged) == 1
    assert store.counts_of(store.totals([batch_id])[batch_id])["Cancelled"] == 1
    assert store.get(batch_id).batch_name == "run 42"
    fake_clock.advance(days=1)
    assert len(maintenance.run(["purge"]).purged) == 1
    with pytest.raises(NotFound):
        store.get(batch_id)
    assert list(CounterModel.batch_get(counters.keys(store.scope(batch_id)))) == []


def test_removal_is_refused_while_a_job_is_counted(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    batch_id = create(client, headers, [{"name": "x", "filename": "x.fasta"}])["batch"]["batch_id"]
    assert store.remove_if_empty(batch_id) is False
    assert get(client, f"/batches/{batch_id}", headers)["counts"]["Submitted"] == 1


from tests.integration.test_reads_jobs import mates  # noqa: E402,F401  (fixture: a KPC read pair)


def test_a_batch_of_read_pairs_and_genomes_reads_as_one_matrix(
    client: Any, make_user: Any, genomes: dict[str, bytes], mates: tuple[bytes, bytes]
) -> None:
    _, headers = make_user()
    created = create(client, headers, [
        {"name": "reads", "filename": "r_R1.fastq.gz", "mate_filename": "r_R2.fastq.gz"},
        {"name": "assembly", "filename": "a.fasta"},
    ])
    paired, single = created["jobs"]
    assert paired["mate_upload"]["fields"]["key"] == paired["job"]["input"]["mate"]["key"]
    assert "mate_upload" not in single
    assert upload(paired["job"], mates[0]).outcome == outcomes.WAITING  # its mate has not arrived
    (outcome,) = intake.handle_upload_event(put(paired["job"]["input"]["mate"]["key"], mates[1]), None)
    assert outcome.outcome == outcomes.COMPLETED
    upload(single["job"], genomes["kpc"])
    matrix = get(client, f"/batches/{created['batch']['batch_id']}/matrix", headers)
    rows = {r["sample"]: r for r in matrix["rows"]}
    assert rows["reads"]["genes"] == rows["assembly"]["genes"] == ["blaKPC-2"]
    assert rows["reads"]["calls"] == rows["assembly"]["calls"] and rows["reads"]["calls"]["meropenem"] == "R"


def test_bad_mates_in_a_batch_are_refused(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    response = client.http.post("/batches", headers=headers, body=body([
        {"name": "x", "filename": "x.fasta", "mate_filename": "x_R2.fastq"}]))
    assert response.status_code == 400 and "samples.0" in response.json_body["error"]["message"]


def test_mates_dropped_into_a_folder_join_its_batch_as_one_sample(
    client: Any, make_user: Any, mates: tuple[bytes, bytes]
) -> None:
    user_id, headers = make_user("pairer")
    assert intake.handle_upload_event(put("inbox/pairer/run8/s_R1.fastq.gz", mates[0]), None)[0].outcome == \
        outcomes.WAITING
    assert intake.handle_upload_event(put("inbox/pairer/run8/s_R2.fastq.gz", mates[1]), None)[0].outcome == \
        outcomes.COMPLETED
    (batch,) = get(client, "/batches", headers)["batches"]
    assert batch["batch_name"] == "run8" and batch["counts"]["Completed"] == 1 and batch["total"] == 1
    (row,) = get(client, f"/batches/{batch['batch_id']}/matrix", headers)["rows"]
    assert row["genes"] == ["blaKPC-2"]

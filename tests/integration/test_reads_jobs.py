"""Reads jobs end to end on moto (design §12): pairing by API and by bucket drop, duplicated
and concurrent events, bad FASTQ ending in Error, lone mates reported by maintenance."""
from __future__ import annotations

import gzip
import json
import threading
from typing import Any, Callable

import pytest

from bench.readsim import simulate_pairs
from chalicelib.core import aws
from chalicelib.core.settings import get_settings
from chalicelib.jobs import lifecycle as jobs, queries, s3layout
from chalicelib.maintenance import tasks
from chalicelib.prediction import intake, outcomes
from chalicelib.prediction.reads import predictor as reads
from chalicelib.prediction.resfinder_db import load_db
from tests.integration.test_intake import DB_PRESENT, event_messages, put, result_objects, s3_event, tags
from tests.integration.test_jobs_api import call, payload
from tests.unit.test_acquired import KPC, insert, random_dna

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")


@pytest.fixture(scope="module")
def mates() -> tuple[bytes, bytes]:
    """A KPC-carrying 'genome' as a gzip read pair at 25x."""
    genome = insert(random_dna(8_000, 41), 3_000, load_db().alleles[KPC].sequence)
    pairs = list(simulate_pairs([("g", genome)], depth=25, seed=42))
    r1 = "".join(f"@{n}/1\n{a}\n+\n{'I' * len(a)}\n" for n, a, _ in pairs)
    r2 = "".join(f"@{n}/2\n{b}\n+\n{'I' * len(b)}\n" for n, _, b in pairs)
    return gzip.compress(r1.encode()), gzip.compress(r2.encode())


@pytest.fixture
def read_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Reads predictions actually started (duplicates must not start a second one)."""
    calls: list[list[str]] = []
    real = reads.predict_streams

    def counting(streams: Any, names: list[str], *args: Any, **kwargs: Any) -> Any:
        calls.append(list(names))
        return real(streams, names, *args, **kwargs)

    monkeypatch.setattr(reads, "predict_streams", counting)
    return calls


def paired_job(user_id: str = "u-1", first: str = "s_R1.fastq.gz", second: str = "s_R2.fastq.gz",
               params: dict[str, Any] | None = None) -> jobs.JobModel:
    job_id = jobs.new_job_id()
    return jobs.create_job(
        user_id=user_id, job_name="pair", params=params or {}, job_id=job_id,
        input_key=s3layout.upload_key(user_id, job_id, first), input_filename=first,
        mate_key=s3layout.upload_key(user_id, job_id, second), mate_filename=second,
    )


def handle(event: dict[str, Any]) -> outcomes.Outcome:
    (outcome,) = intake.handle_upload_event(event)
    return outcome


# --------------------------------------------------------------------------- API


def test_post_jobs_with_mate_filename_returns_two_presigned_posts(client: Any, make_user: Any) -> None:
    user_id, headers = make_user()
    response = call(client, "POST", "/jobs", headers,
                    {"job_name": "run 7", "filename": "x_R1.fastq.gz", "mate_filename": "x_R2.fastq.gz"})
    assert response.status_code == 201, response.body
    body = payload(response)
    job_id = body["job"]["job_id"]
    assert body["upload"]["fields"]["key"] == s3layout.upload_key(user_id, job_id, "x_R1.fastq.gz")
    assert body["mate_upload"]["fields"]["key"] == s3layout.upload_key(user_id, job_id, "x_R2.fastq.gz")
    assert body["job"]["input"]["mate"] == {
        "filename": "x_R2.fastq.gz", "key": s3layout.upload_key(user_id, job_id, "x_R2.fastq.gz"), "size": None}
    stored = queries.get_job(job_id)
    assert (stored.mate_filename, stored.mate_key) == ("x_R2.fastq.gz", body["mate_upload"]["fields"]["key"])


@pytest.mark.parametrize("body, field", [
    ({"filename": "x.fa", "mate_filename": "x_R2.fq"}, "mate_filename needs filename"),
    ({"filename": "x_R1.fq", "mate_filename": "x_R2.fa"}, "mate_filename must name a FASTQ"),
    ({"filename": "x_R1.fq", "mate_filename": "x_R1.fq"}, "must differ"),
    ({"mate_filename": "x_R2.fq"}, "mate_filename needs filename"),
    ({"filename": "x_R1.fq", "mate_filename": "../x_R2.fq"}, "mate_filename"),
])
def test_post_jobs_rejects_bad_mates(client: Any, make_user: Any, body: dict[str, Any], field: str) -> None:
    _, headers = make_user()
    response = call(client, "POST", "/jobs", headers, {"job_name": "x", **body})
    assert response.status_code == 400 and field in response.body.decode()


@pytest.mark.parametrize("second_first", [False, True])
def test_api_pair_starts_when_both_mates_have_arrived(aws_env: None, mates: tuple[bytes, bytes],
                                                      read_calls: list[list[str]], second_first: bool) -> None:
    job = paired_job(params={"species": "escherichia_coli"})
    order = [(job.mate_key, mates[1]), (job.input_key, mates[0])]
    if not second_first:
        order.reverse()

    waiting = handle(put(*order[0]))
    assert waiting.outcome == outcomes.WAITING and queries.get_job(job.job_id).status == jobs.SUBMITTED
    done = handle(put(*order[1]))

    assert done.outcome == outcomes.COMPLETED and read_calls == [["s_R1.fastq.gz", "s_R2.fastq.gz"]]
    stored = queries.get_job(job.job_id)
    assert (stored.status, stored.input_size, stored.mate_size) == (jobs.COMPLETED, len(mates[0]), len(mates[1]))
    doc = json.loads(result_objects(stored)["predictions.json"]["body"])
    (gene,) = doc["genes"]
    assert (gene["gene"], gene["contig"], gene["start"], gene["end"]) == ("blaKPC-2", KPC, 1, 882)
    assert 18 <= gene["depth"] <= 32 and doc["stats"]["input"] == "reads"
    assert doc["stats"]["reads"] == stored.summary.as_dict()["reads"] > 0
    messages = event_messages(job.job_id)
    assert any(m.startswith("Received ") and "waiting for its mate" in m for m in messages)
    assert any(m.startswith("Progress 100%") and " reads, " in m and "bytes read" in m for m in messages)
    assert messages[-1].startswith("Completed: 1 gene(s)") and " reads, " in messages[-1]
    assert "coverage_depth" in result_objects(stored)["hamronization.tsv"]["body"].splitlines()[0]


def test_api_pair_duplicated_and_concurrent_events_run_once(aws_env: None, mates: tuple[bytes, bytes],
                                                            read_calls: list[list[str]]) -> None:
    job = paired_job()
    first, second = put(job.input_key, mates[0]), put(job.mate_key, mates[1])
    events = [first, second, second, first]
    seen: list[str] = []
    threads = [threading.Thread(target=lambda e=e: seen.append(handle(e).outcome)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen.count(outcomes.COMPLETED) == 1 and len(read_calls) == 1
    assert handle(second).outcome == outcomes.DUPLICATE and len(read_calls) == 1


def test_single_end_fastq_job(aws_env: None, mates: tuple[bytes, bytes]) -> None:
    job_id = jobs.new_job_id()
    key = s3layout.upload_key("u-2", job_id, "reads.fq.gz")
    jobs.create_job(user_id="u-2", job_name="se", params={}, job_id=job_id, input_key=key, input_filename="reads.fq.gz")
    assert handle(put(key, mates[0])).outcome == outcomes.COMPLETED
    (gene,) = json.loads(result_objects(queries.get_job(job_id))["predictions.json"]["body"])["genes"]
    assert gene["gene"] == "blaKPC-2" and 8 <= gene["depth"] <= 17


BAD_PAIRS = [
    (b"@a/1\nACGT\n+\nIIII\n@b/1\nACGT\n+\nIIII\n", b"@a/2\nACGT\n+\nIIII\n",
     "mates have different read counts: s_R2.fastq.gz ends after 1 reads, s_R1.fastq.gz has more (record 2)"),
    (b"@a/1\nACGT\n+\nIIII\n", b"@z/2\nACGT\n+\nIIII\n",
     "s_R1.fastq.gz and s_R2.fastq.gz, record 1: mate names do not match ('a' vs 'z')"),
    (b"@a/1\nACGT\n+\nIIII\n", b">contig\nACGT\n", "s_R2.fastq.gz, record 1 (line 1): this is FASTA, not FASTQ"),
    (b"@a/1\nACGT\n+\nIII\n", b"@a/2\nACGT\n+\nIIII\n",
     "s_R1.fastq.gz, record 1 (line 1): quality length 3 differs from sequence length 4"),
    (b"@a/1\nACGT\n+\nIIII\n@b/1\nAC\n", b"@a/2\nACGT\n+\nIIII\n@b/2\nAC\n+\nII\n",
     "s_R1.fastq.gz, record 2 (line 5): truncated record"),
    (b"\n", b"@a/2\nACGT\n+\nIIII\n", "s_R1.fastq.gz: empty file, no FASTQ reads found"),
]


@pytest.mark.parametrize("r1, r2, message", BAD_PAIRS)
def test_bad_fastq_ends_in_error_naming_file_record_and_problem(aws_env: None, r1: bytes, r2: bytes,
                                                                message: str) -> None:
    job = paired_job()
    handle(put(job.input_key, r1))
    outcome = handle(put(job.mate_key, r2))
    stored = queries.get_job(job.job_id)
    assert outcome.outcome == outcomes.FAILED and stored.status == jobs.ERROR
    assert stored.error.startswith(message), stored.error


def test_mate_over_the_size_limit_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                read_calls: list[list[str]]) -> None:
    monkeypatch.setenv(s3layout.MAX_UPLOAD_ENV, "100")
    job = paired_job()
    handle(put(job.input_key, b"@a/1\nACGT\n+\nIIII\n"))
    handle(put(job.mate_key, b"@a/2\n" + b"A" * 200 + b"\n+\n" + b"I" * 200 + b"\n"))
    stored = queries.get_job(job.job_id)
    assert stored.status == jobs.ERROR and stored.error.startswith("s_R2.fastq.gz: file too large")
    assert read_calls == []


# --------------------------------------------------------------------------- drops


def _user_jobs(user_id: str) -> list[jobs.JobModel]:
    return queries.list_user_jobs(user_id, limit=100).items


@pytest.mark.parametrize("names", [("iso_R1.fastq.gz", "iso_R2.fastq.gz"), ("iso_2.fq.gz", "iso_1.fq.gz")])
def test_drop_pairs_mates_whichever_arrives_first(make_user: Callable[..., Any], mates: tuple[bytes, bytes],
                                                  read_calls: list[list[str]], names: tuple[str, str]) -> None:
    user_id, _ = make_user("rita")
    is_r1 = {n: "_R1" in n or "_1." in n for n in names}
    bodies = {n: mates[0] if is_r1[n] else mates[1] for n in names}
    meta = {n: {"species": "Escherichia coli"} if is_r1[n] else {} for n in names}  # the pair's job reads R1's
    first_event = put(f"inbox/rita/{names[0]}", bodies[names[0]], metadata=meta[names[0]])
    lone = handle(first_event)

    assert lone.outcome == outcomes.WAITING
    (waiting,) = _user_jobs(user_id)
    assert (waiting.status, waiting.job_name, waiting.mate_key is not None) == (jobs.SUBMITTED, "iso", True)
    assert tags(f"inbox/rita/{names[0]}")["amr-status"] == "waiting"

    second_event = put(f"inbox/rita/{names[1]}", bodies[names[1]], metadata=meta[names[1]])
    paired = handle(second_event)

    assert paired.outcome == outcomes.COMPLETED
    (job,) = _user_jobs(user_id)  # the waiting record made way for the pair's job
    first_name, second_name = sorted(names)
    assert (job.status, job.source, job.input_filename, job.mate_filename) == (
        jobs.COMPLETED, "inbox", first_name, second_name)
    assert job.params.as_dict()["species"] == "escherichia_coli"
    assert len(read_calls) == 1
    for event in (first_event, second_event, second_event):
        assert handle(event).outcome == outcomes.DUPLICATE
    assert len(_user_jobs(user_id)) == 1 and len(read_calls) == 1
    assert tags(f"inbox/rita/{names[1]}")["amr-job-id"] == job.job_id


def test_drop_mates_arriving_together_make_one_job(make_user: Callable[..., Any], mates: tuple[bytes, bytes],
                                                   read_calls: list[list[str]]) -> None:
    user_id, _ = make_user("sam")
    e1 = put("inbox/sam/t_R1.fq.gz", mates[0])
    e2 = put("inbox/sam/t_R2.fq.gz", mates[1])
    seen: list[str] = []
    threads = [threading.Thread(target=lambda e=e: seen.append(handle(e).outcome)) for e in (e1, e2, e2, e1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen.count(outcomes.COMPLETED) == 1 and len(read_calls) == 1
    assert [j.status for j in _user_jobs(user_id)] == [jobs.COMPLETED]


def test_single_fastq_drop_without_mate_name_runs_single_end(make_user: Callable[..., Any],
                                                             mates: tuple[bytes, bytes]) -> None:
    user_id, _ = make_user("tom")
    assert handle(put("inbox/tom/reads.fastq.gz", mates[1])).outcome == outcomes.COMPLETED
    (job,) = _user_jobs(user_id)
    assert job.mate_key is None and job.status == jobs.COMPLETED


def test_lone_mate_is_reported_once_by_maintenance(make_user: Callable[..., Any], fake_clock: Any,
                                                   mates: tuple[bytes, bytes]) -> None:
    user_id, _ = make_user("uma")
    lone = handle(put("inbox/uma/solo_R1.fastq.gz", mates[0]))
    api_job = paired_job(user_id=user_id)
    handle(put(api_job.mate_key, mates[1]))
    minutes = tasks.policy.get_policy().stalled_running_minutes * tasks.LONE_MATE_FACTOR

    fake_clock.advance(minutes=minutes - 1)
    assert tasks.run(["stalled"]).lone_mates == []
    fake_clock.advance(minutes=2)
    report = tasks.run(["stalled"])

    found = {m.job_id: m for m in report.lone_mates}
    assert set(found) == {lone.job_id, api_job.job_id}
    assert found[lone.job_id].missing == "inbox/uma/solo_R2.fastq.gz"
    assert found[api_job.job_id].arrived == api_job.mate_key and found[api_job.job_id].missing == api_job.input_key
    assert any("Still waiting for the mate solo_R2.fastq.gz" in m for m in event_messages(lone.job_id))
    assert tasks.run(["stalled"]).lone_mates == []  # reported once
    assert queries.get_job(lone.job_id).status == jobs.SUBMITTED  # it keeps waiting


def test_delete_paired_job_removes_both_mates(client: Any, make_user: Any, mates: tuple[bytes, bytes]) -> None:
    user_id, headers = make_user()
    job = paired_job(user_id=user_id)
    for key, body in ((job.input_key, mates[0]), (job.mate_key, mates[1])):
        aws.client("s3").put_object(Bucket=get_settings().upload_bucket, Key=key, Body=body)
    assert call(client, "DELETE", f"/jobs/{job.job_id}", headers).status_code == 204
    listed = aws.client("s3").list_objects_v2(Bucket=get_settings().upload_bucket, Prefix=f"uploads/{user_id}/")
    assert listed.get("KeyCount", 0) == 0


def test_s3_event_of_unrecorded_mate_key_is_rejected(aws_env: None) -> None:
    job = paired_job()
    key = job.input_key.rsplit("/", 1)[0] + "/other_R2.fq"
    aws.client("s3").put_object(Bucket=get_settings().upload_bucket, Key=key, Body=b"@a\nA\n+\nI\n")
    assert handle(s3_event(key)).outcome == outcomes.REJECTED

"""The prediction function end to end on moto: S3 events → job lifecycle → result files.

Events are built in the exact shape of an AWS S3 notification (keys URL-encoded, spaces
as '+'). Genomes are small synthetic ones (seeded random DNA with real ResFinder alleles
inserted) except for two of Debian's resfinder-example isolates.
"""
from __future__ import annotations

import gzip
import itertools
import json
import os
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator
from urllib.parse import quote_plus

import pytest

from chalicelib.core import aws
from chalicelib.jobs import lifecycle as jobs, s3layout
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import acquired as predictor, inbox, intake, objects, outcomes, runner
from chalicelib.core.errors import NotFound, StorageUnavailable
from chalicelib.core.tables import JobModel
from chalicelib.prediction.resfinder_db import DEFAULT_DB_DIR, load_db
from chalicelib.core.settings import get_settings
from tests.unit.test_predictor import KPC, insert, random_dna, revcomp

DB_PRESENT = Path(os.environ.get("AMR_RESFINDER_DB") or DEFAULT_DB_DIR, "config").is_file()
EXAMPLES = Path(os.environ.get("AMR_RESFINDER_EXAMPLES") or "/usr/share/doc/resfinder/examples/data")
pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")

SMALL_PARAMS = {"segment_length": 5000, "segment_overlap": 1000, "batch_size": 4}
_sequencer = itertools.count(0x5B039F73C627CE8B)


# --------------------------------------------------------------------------- helpers


def s3_event(key: str, *, etag: str = "d41d8cd98f00b204e9800998ecf8427e", size: int = 0,
             sequencer: str | None = None, bucket: str | None = None,
             version_id: str | None = None) -> dict[str, Any]:
    """An S3 ObjectCreated notification exactly as AWS sends it to Lambda."""
    bucket = bucket or get_settings().upload_bucket
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": etag,
        "sequencer": sequencer or f"00{next(_sequencer):X}",
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-24T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "192.0.2.10"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "amr-upload-events",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """Upload to the upload bucket and return the event S3 would send for this write."""
    response = aws.client("s3").put_object(
        Bucket=get_settings().upload_bucket, Key=key, Body=body, Metadata=metadata or {}
    )
    return s3_event(key, etag=response["ETag"].strip('"'), size=len(body))


def api_job(filename: str = "genome.fa", params: dict[str, Any] | None = None,
            user_id: str | None = None) -> JobModel:
    """A job as POST /jobs creates it: Submitted, waiting for its upload key."""
    user_id = user_id or str(uuid.uuid4())
    job_id = jobs.new_job_id()
    return jobs.create_job(
        user_id=user_id, job_name="test job", params=SMALL_PARAMS if params is None else params,
        job_id=job_id, input_key=s3layout.upload_key(user_id, job_id, filename), input_filename=filename,
    )


def upload(job: JobModel, body: bytes, context: Any = None) -> outcomes.Outcome:
    (outcome,) = intake.handle_upload_event(put(job.input_key, body), context)
    return outcome


def fasta(contigs: dict[str, str]) -> bytes:
    return "".join(f">{cid} synthetic\n" + "\n".join(seq[i:i + 70] for i in range(0, len(seq), 70)) + "\n"
                   for cid, seq in contigs.items()).encode()


def result_objects(job: JobModel) -> dict[str, dict[str, Any]]:
    s3 = aws.client("s3")
    bucket = get_settings().results_bucket
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=s3layout.results_prefix(job.user_id, job.job_id))
    out = {}
    for item in listed.get("Contents", []):
        obj = s3.get_object(Bucket=bucket, Key=item["Key"])
        out[item["Key"].rsplit("/", 1)[1]] = {"type": obj["ContentType"], "body": obj["Body"].read().decode()}
    return out


def event_messages(job_id: str) -> list[str]:
    return [e.message for e in jobs.list_events(job_id, limit=500).items]


def tags(key: str) -> dict[str, str]:
    tagset = aws.client("s3").get_object_tagging(Bucket=get_settings().upload_bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tagset}


@pytest.fixture
def predict_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts predictions actually started (the expensive step duplicates must not repeat)."""
    calls: list[str] = []
    real = predictor.predict_stream

    def counting(stream: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("name", ""))
        return real(stream, **kwargs)

    monkeypatch.setattr(predictor, "predict_stream", counting)
    return calls


@pytest.fixture(scope="module")
def kpc() -> str:
    return load_db().alleles[KPC].sequence


# --------------------------------------------------------------------------- happy paths


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="resfinder-example data not installed")
@pytest.mark.parametrize("name, expected", [("test_isolate_01.fa.gz", ["blaB-2"]),
                                            ("test_isolate_02.fa", ["blaCTX-M-33"])])
def test_example_isolate_upload_completes_with_results(aws_env: None, name: str, expected: list[str]) -> None:
    body = (EXAMPLES / name).read_bytes()
    job = api_job(name, params={})

    outcome = upload(job, body)

    assert outcome.outcome == outcomes.COMPLETED
    done = jobs.get_job(job.job_id)
    assert done.status == jobs.COMPLETED and done.progress == 100 and done.input_size == len(body)
    files = result_objects(job)
    assert set(files) == {"predictions.json", "predictions.tsv", "hamronization.tsv", "pointfinder.tsv", "phenotypes.tsv"}
    assert files["predictions.json"]["type"] == "application/json"
    assert files["predictions.tsv"]["type"].startswith("text/tab-separated-values")
    doc = json.loads(files["predictions.json"]["body"])
    assert doc["job_id"] == job.job_id and [g["gene"] for g in doc["genes"]] == expected
    assert doc["database"] == {"name": "resfinder", "version": load_db().version}
    assert expected[0] in files["predictions.tsv"]["body"] and expected[0] in files["hamronization.tsv"]["body"]
    assert sorted(done.result_keys) == sorted(s3layout.result_key(job.user_id, job.job_id, n) for n in files)
    assert done.summary.as_dict()["gene_names"] == expected
    assert done.summary.as_dict()["database_version"] == load_db().version
    messages = event_messages(job.job_id)
    assert any(m.startswith("Status Submitted -> Running") for m in messages)
    assert any(m.startswith("Prediction started: " + name) for m in messages)
    assert any(m.startswith("Progress 100%") for m in messages)
    assert messages[-1].startswith("Completed: 1 gene(s)")


@pytest.mark.skipif(not (EXAMPLES / "test_isolate_05.fa.gz").is_file(), reason="resfinder-example data not installed")
def test_species_job_reports_point_mutations_phenotypes_and_resistant_antibiotics(aws_env: None) -> None:
    body = (EXAMPLES / "test_isolate_05.fa.gz").read_bytes()
    job = api_job("test_isolate_05.fa.gz", params={"species": "escherichia_coli", "point_mutations": True})

    assert upload(job, body).outcome == outcomes.COMPLETED

    done = jobs.get_job(job.job_id)
    files = result_objects(job)
    doc = json.loads(files["predictions.json"]["body"])
    assert doc["species"] == "escherichia_coli" and doc["point_database"]["name"] == "pointfinder"
    assert [m["mutation"] for m in doc["mutations"]] == ["gyrA p.S83A"]
    assert doc["mutations"][0]["contig"] == "test_isolate_05" and doc["mutations"][0]["pmids"] == ["12654733"]
    assert doc["resistant"] == ["ciprofloxacin", "nalidixic acid"]
    cipro = next(r for r in doc["phenotypes"] if r["antimicrobial"] == "ciprofloxacin")
    assert (cipro["phenotype"], cipro["match"], cipro["genetic_background"]) == ("Resistant", 3, "gyrA (p.S83A)")
    assert doc["phenotype_panel"]["name"] == "escherichia coli"
    assert files["pointfinder.tsv"]["body"].splitlines()[1].startswith("gyrA p.S83A\tTCG -> GCG\tS -> A\t")
    assert "ciprofloxacin\tquinolone\tResistant\t3\tgyrA (p.S83A)" in files["phenotypes.tsv"]["body"]
    assert "gyrA\tgyrA\tpointfinder" in files["hamronization.tsv"]["body"]
    summary = done.summary.as_dict()
    assert summary["resistant"] == ["ciprofloxacin", "nalidixic acid"] and summary["mutation_names"] == ["gyrA p.S83A"]
    assert event_messages(job.job_id)[-1].endswith("resistant to ciprofloxacin, nalidixic acid")


@pytest.fixture
def local_client(aws_env: None) -> Iterator[Any]:
    """Chalice's test client under the `local` stage: the deployed stages' environment
    (e.g. AMR_RESFINDER_DB inside the Lambda package) does not exist on this machine."""
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as test_client:
        yield test_client


def test_through_the_registered_chalice_handler(local_client: Any, kpc: str) -> None:
    client = local_client
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"chr": insert(random_dna(9000, 1), 3000, kpc)}))

    response = client.lambda_.invoke("on_upload", event)

    assert response.payload == [{"key": job.input_key, "outcome": "completed", "job_id": job.job_id, "reason": None}]
    assert jobs.get_job(job.job_id).status == jobs.COMPLETED
    # S3's configuration test message has no Records: logged and ignored, not a crash.
    assert client.lambda_.invoke("on_upload", {"Service": "Amazon S3", "Event": "s3:TestEvent"}).payload == []


def test_key_with_spaces_and_plus_signs_is_decoded(aws_env: None, kpc: str) -> None:
    job = api_job("sample 1+2.fa")
    event = put(job.input_key, fasta({"chr": insert(random_dna(9000, 2), 100, kpc)}))
    raw_key = event["Records"][0]["s3"]["object"]["key"]
    assert raw_key.endswith("/sample+1%2B2.fa")

    (outcome,) = intake.handle_upload_event(event)

    assert outcome.outcome == outcomes.COMPLETED
    assert jobs.get_job(job.job_id).status == jobs.COMPLETED


def test_gene_across_segment_boundary_and_reverse_strand_found_once(aws_env: None, kpc: str) -> None:
    # 5000-base segments overlapping by 1000: [0, 5000) and [4000, 9000) — the gene crosses 5000.
    genome = {
        "fwd": insert(random_dna(20000, 3), 4600, kpc),
        "rev": insert(random_dna(12000, 4), 7000, revcomp(kpc)),
    }
    job = api_job("g.fa", params={**SMALL_PARAMS, "batch_size": 1})

    assert upload(job, gzip.compress(fasta(genome))).outcome == outcomes.COMPLETED

    doc = json.loads(result_objects(job)["predictions.json"]["body"])
    assert [(g["gene"], g["contig"], g["start"], g["end"], g["strand"]) for g in doc["genes"]] == [
        ("blaKPC-2", "fwd", 4601, 4600 + len(kpc), "+"),
        ("blaKPC-2", "rev", 7001, 7000 + len(kpc), "-"),
    ]
    # Eight one-segment batches, but progress events stay bounded by the 10 % steps.
    progress = [m for m in event_messages(job.job_id) if m.startswith("Progress")]
    assert 2 <= len(progress) <= 11 and progress[-1].startswith("Progress 100%")


# --------------------------------------------------------------------------- bad input


def _truncated_gzip() -> bytes:
    data = gzip.compress(fasta({"a": random_dna(5000, 5)}))
    return data[: len(data) // 2]


BAD_INPUTS = {
    "not-fasta": (b"hello, this is not a genome\n", "genome.fa, line 1: not a FASTA file"),
    "protein": (b">p1 protein\nMKTLLILAVLAAALAQEEFPLLKSWQEIFTRL\n", "genome.fa, line 2: looks like protein"),
    "empty": (b"", "genome.fa: empty file"),
    "truncated-gzip": (_truncated_gzip(), "genome.fa: gzip data is truncated"),
    "empty-record": (b">a\nACGT\n>b\n", "genome.fa, line 3: sequence 'b' is empty"),
}


def test_bad_input_ends_in_error_with_precise_message(aws_env: None) -> None:
    for case, (body, message) in BAD_INPUTS.items():  # one moto set-up for all cases
        job = api_job("genome.fa")

        outcome = upload(job, body)

        done = jobs.get_job(job.job_id)
        assert outcome.outcome == outcomes.FAILED and done.status == jobs.ERROR, case
        assert done.error.startswith(message) and "Traceback" not in done.error, (case, done.error)
        assert result_objects(job) == {} and not done.result_keys, case
        assert any(message in m for m in event_messages(job.job_id)), case


def test_oversized_upload_is_refused_before_reading(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                    predict_calls: list[str]) -> None:
    monkeypatch.setenv(runner.MAX_UPLOAD_ENV, "1000")
    job = api_job("big.fa")

    upload(job, fasta({"a": random_dna(2000, 6)}))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR and done.error.startswith("big.fa: file too large (")
    assert "the limit is 1000 bytes" in done.error
    assert predict_calls == [] and result_objects(job) == {}


def test_gzip_bomb_is_stopped_by_the_decompressed_limit(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner.MAX_UPLOAD_ENV, "20000")
    body = gzip.compress(b">a\n" + b"A" * 200_000 + b"\n")
    assert len(body) < 20000
    job = api_job("bomb.fa.gz")

    upload(job, body)

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR and "decompressed content is larger than the limit" in done.error


def test_invalid_stored_params_end_in_error(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa", params={"segment_length": 100, "segment_overlap": 100})

    upload(job, fasta({"a": random_dna(500, 7)}))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR and done.error == "invalid parameters: segment_overlap must be < segment_length"
    assert predict_calls == []


# --------------------------------------------------------------------------- failures


def test_unexpected_exception_gives_reference_not_trace(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at 0xdeadbeef")

    monkeypatch.setattr(predictor, "predict_stream", boom)
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 8)}), SimpleNamespace(aws_request_id="req-42"))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "internal error while predicting (reference req-42)"


def test_storage_failure_while_writing_results_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise StorageUnavailable("Storage is temporarily unavailable (s3.put); please retry shortly.")

    monkeypatch.setattr(s3layout, "put_object", down)
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 9)}))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR and done.error.startswith("Storage is temporarily unavailable (s3.put)")


def test_connection_lost_while_reading_input_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ReadTimeoutError

    class Flaky:
        def read(self, n: int = -1) -> bytes:
            raise ReadTimeoutError(endpoint_url="https://s3.example")

        def close(self) -> None:
            pass

    monkeypatch.setattr(objects, "open_body", lambda ref: objects.InputBody(Flaky()))
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 24)}))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "Storage is temporarily unavailable (reading the uploaded file); please upload it again."


def test_missing_database_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMR_RESFINDER_DB", str(tmp_path / "no-db"))
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 10)}), SimpleNamespace(aws_request_id="req-7"))

    done = jobs.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "the prediction database is unavailable on the server (reference req-7)"


def test_storage_failure_before_claim_asks_lambda_to_retry(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(500, 11)}))
    real = objects.head_object
    monkeypatch.setattr(objects, "head_object", lambda ref: (_ for _ in ()).throw(StorageUnavailable("down")))

    with pytest.raises(intake.RetryLater):
        intake.handle_upload_event(event)
    assert jobs.get_job(job.job_id).status == jobs.SUBMITTED

    monkeypatch.setattr(objects, "head_object", real)
    (outcome,) = intake.handle_upload_event(event)  # Lambda's retry of the same event
    assert outcome.outcome == outcomes.COMPLETED


# --------------------------------------------------------------------------- at-least-once delivery


def test_duplicate_event_runs_one_prediction(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(3000, 12)}))

    first = intake.handle_upload_event(event)
    second = intake.handle_upload_event(event)

    assert [o.outcome for o in first + second] == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert predict_calls == ["g.fa"]
    assert sum(m.startswith("Prediction started") for m in event_messages(job.job_id)) == 1
    assert jobs.get_job(job.job_id).status == jobs.COMPLETED


def deliver_concurrently(event: dict[str, Any], copies: int) -> list[str]:
    """Deliver the same event from `copies` threads at once; the outcomes of all."""
    barrier = threading.Barrier(copies)
    seen: list[str] = []

    def deliver() -> None:
        barrier.wait()
        seen.extend(o.outcome for o in intake.handle_upload_event(event))

    threads = [threading.Thread(target=deliver) for _ in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_concurrent_deliveries_run_exactly_once(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(3000, 13)}))
    seen = deliver_concurrently(event, 2)
    assert sorted(seen) == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert len(predict_calls) == 1
    assert jobs.get_job(job.job_id).status == jobs.COMPLETED


# --------------------------------------------------------------------------- cancellation


def test_cancel_mid_run_stops_at_next_batch_without_results(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    genome = {f"c{i}": random_dna(3000, 20 + i) for i in range(10)}  # 10 batches of one segment
    job = api_job("g.fa", params={"segment_length": 5000, "segment_overlap": 100, "batch_size": 1})
    writes: list[bool] = []
    real = jobs.update_progress

    def cancel_after_first(job_id: str, pct: float) -> bool:
        ok = real(job_id, pct)
        writes.append(ok)
        if len(writes) == 1:
            jobs.transition(job_id, jobs.CANCELLED)  # the user's POST /jobs/{id}/cancel
        return ok

    monkeypatch.setattr(jobs, "update_progress", cancel_after_first)

    outcome = upload(job, fasta(genome))

    done = jobs.get_job(job.job_id)
    assert outcome.outcome == outcomes.CANCELLED and done.status == jobs.CANCELLED
    assert writes == [True, False]  # stopped at the second batch of ten
    assert result_objects(job) == {} and not done.result_keys
    assert any(m.startswith("Prediction stopped after 2 segments") for m in event_messages(job.job_id))


def test_cancel_after_last_batch_removes_written_results(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    job = api_job("g.fa")
    real = runner.store_results

    def store_then_cancel(*args: Any) -> list[str]:
        keys = real(*args)
        jobs.transition(job.job_id, jobs.CANCELLED)
        return keys

    monkeypatch.setattr(runner, "store_results", store_then_cancel)

    outcome = upload(job, fasta({"a": random_dna(500, 14)}))

    assert outcome.outcome == outcomes.CANCELLED
    assert jobs.get_job(job.job_id).status == jobs.CANCELLED and result_objects(job) == {}


def test_upload_for_cancelled_job_is_not_run(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    jobs.transition(job.job_id, jobs.CANCELLED)

    assert upload(job, fasta({"a": random_dna(500, 15)})).outcome == outcomes.DUPLICATE
    assert predict_calls == [] and jobs.get_job(job.job_id).status == jobs.CANCELLED


# --------------------------------------------------------------------------- rejected keys


def test_upload_key_naming_another_users_job_is_rejected(aws_env: None, predict_calls: list[str]) -> None:
    victim = api_job("g.fa")
    key = s3layout.upload_key(str(uuid.uuid4()), victim.job_id, "g.fa")

    (outcome,) = intake.handle_upload_event(put(key, fasta({"a": random_dna(500, 16)})))

    assert outcome.outcome == outcomes.REJECTED
    assert tags(key) == {"amr-status": "rejected", "amr-reason": "key does not match the owner or upload key of the job"}
    assert jobs.get_job(victim.job_id).status == jobs.SUBMITTED and predict_calls == []


def test_upload_key_other_than_the_recorded_one_is_rejected(aws_env: None) -> None:
    job = api_job("g.fa")
    key = s3layout.upload_key(job.user_id, job.job_id, "other.fa")

    (outcome,) = intake.handle_upload_event(put(key, fasta({"a": random_dna(500, 17)})))

    assert outcome.outcome == outcomes.REJECTED and tags(key)["amr-status"] == "rejected"
    assert jobs.get_job(job.job_id).status == jobs.SUBMITTED


def test_unknown_job_or_unsupported_key_is_tagged(aws_env: None) -> None:
    for key, reason in [
        (f"uploads/{uuid.uuid4()}/{uuid.uuid4()}/g.fa", "no such job"),
        ("elsewhere/g.fa", "unsupported key"),
        ("inbox/alice/run/sub/g.fa", "unsupported key"),  # one folder level forms a batch, two are unsupported
    ]:
        (outcome,) = intake.handle_upload_event(put(key, b">a\nACGT\n"))

        assert outcome.outcome == outcomes.REJECTED and outcome.reason.startswith(reason), key
        assert tags(key)["amr-reason"].startswith(reason), key


MALFORMED_EVENTS = [
    None, {}, {"Records": "nope"}, {"Records": [None, 3, {"eventSource": "aws:sqs"}]},
    {"Service": "Amazon S3", "Event": "s3:TestEvent"},
    {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"object": {}}}]},
    {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
                  "s3": {"bucket": {"name": "b"}, "object": {"key": "inbox/a/g.fa"}}}]},
]


def test_malformed_events_are_logged_and_ignored() -> None:
    for event in MALFORMED_EVENTS:  # no AWS call is made for any of them
        assert intake.handle_upload_event(event) == [], event


def test_event_of_another_bucket_is_ignored(aws_env: None) -> None:
    event = s3_event("inbox/alice/g.fa", bucket=get_settings().results_bucket)
    assert [o.outcome for o in intake.handle_upload_event(event)] == [outcomes.IGNORED]


# --------------------------------------------------------------------------- inbox drops


def _user_jobs(user_id: str) -> list[JobModel]:
    return jobs.list_user_jobs(user_id, limit=100).items


def test_inbox_drop_creates_job_with_metadata_and_completes(make_user: Callable[..., Any], kpc: str) -> None:
    user_id, _ = make_user("alice")
    key = "inbox/alice/my genome+v2.fa.gz"
    body = gzip.compress(fasta({"chr": insert(random_dna(12000, 18), 4600, kpc)}))
    event = put(key, body, metadata={"job-name": "Ward 7 isolate", "segment-length": "5000",
                                     "segment_overlap": "1000", "min_identity": "0.95", "mtime": "1700000000"})

    (outcome,) = intake.handle_upload_event(event)

    assert outcome.outcome == outcomes.COMPLETED
    (job,) = _user_jobs(user_id)
    assert job.job_id == outcome.job_id == inbox.inbox_job_id(intake.parse_records(event)[0])
    assert (job.status, job.source, job.job_name, job.input_key, job.input_filename) == (
        jobs.COMPLETED, "inbox", "Ward 7 isolate", key, "my genome+v2.fa.gz")
    params = job.params.as_dict()
    assert (params["segment_length"], params["segment_overlap"], params["min_identity"]) == (5000, 1000, 0.95)
    assert json.loads(result_objects(job)["predictions.json"]["body"])["genes"][0]["start"] == 4601
    assert tags(key) == {"amr-status": "accepted", "amr-reason": f"job {job.job_id}", "amr-job-id": job.job_id}
    assert any("Ignored object metadata that names no parameter: mtime" in m for m in event_messages(job.job_id))


def test_inbox_drop_species_metadata_in_resfinders_spelling(make_user: Callable[..., Any]) -> None:
    user_id, _ = make_user("erin")
    event = put("inbox/erin/ecoli.fa", fasta({"a": random_dna(3000, 31)}),
                metadata={"species": "Escherichia coli", "point-mutations": "yes"})
    (outcome,) = intake.handle_upload_event(event)
    assert outcome.outcome == outcomes.COMPLETED
    (job,) = _user_jobs(user_id)
    assert (job.params.as_dict()["species"], job.params.as_dict()["point_mutations"]) == ("escherichia_coli", True)
    assert json.loads(result_objects(job)["predictions.json"]["body"])["species"] == "escherichia_coli"


def test_inbox_drop_with_an_unknown_species_ends_in_error_naming_the_values(make_user: Callable[..., Any]) -> None:
    user_id, _ = make_user("finn")
    event = put("inbox/finn/x.fa", fasta({"a": random_dna(3000, 32)}), metadata={"species": "Martian coli"})
    (outcome,) = intake.handle_upload_event(event)
    (job,) = _user_jobs(user_id)
    assert job.status == jobs.ERROR and "species must be one of escherichia_coli" in job.error


def test_inbox_duplicate_event_creates_one_job(make_user: Callable[..., Any], predict_calls: list[str]) -> None:
    user_id, _ = make_user("bob")
    event = put("inbox/bob/g.fa", fasta({"a": random_dna(3000, 19)}))

    first = intake.handle_upload_event(event)
    second = intake.handle_upload_event(event)

    assert [o.outcome for o in first + second] == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert first[0].job_id == second[0].job_id
    assert len(_user_jobs(user_id)) == 1 and len(predict_calls) == 1


def test_inbox_concurrent_deliveries_create_and_run_once(make_user: Callable[..., Any],
                                                         predict_calls: list[str]) -> None:
    user_id, _ = make_user("carol")
    event = put("inbox/carol/g.fa", fasta({"a": random_dna(3000, 21)}))
    seen = deliver_concurrently(event, 2)
    assert sorted(seen) == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert len(_user_jobs(user_id)) == 1 and len(predict_calls) == 1


def test_inbox_same_key_written_again_is_a_new_job(make_user: Callable[..., Any]) -> None:
    user_id, _ = make_user("dave")
    intake.handle_upload_event(put("inbox/dave/g.fa", fasta({"a": random_dna(1000, 22)})))
    intake.handle_upload_event(put("inbox/dave/g.fa", fasta({"a": random_dna(1000, 23)})))

    assert len(_user_jobs(user_id)) == 2


def test_inbox_unknown_user_creates_no_job_and_tags(aws_env: None) -> None:
    key = "inbox/nobody/g.fa"
    event = put(key, b">a\nACGT\n")

    (outcome,) = intake.handle_upload_event(event)

    assert outcome.outcome == outcomes.REJECTED and outcome.job_id is None
    assert tags(key) == {"amr-status": "rejected", "amr-reason": "unknown user nobody"}
    with pytest.raises(NotFound):
        jobs.get_job(inbox.inbox_job_id(intake.parse_records(event)[0]))


def test_inbox_inactive_user_creates_no_job_and_tags(make_user: Callable[..., Any]) -> None:
    from chalicelib.accounts import users

    user_id, _ = make_user("erin")
    users.update_user(user_id, is_active=False)  # as PATCH /admin/users/{id} {"is_active": false}
    key = "inbox/erin/g.fa"

    (outcome,) = intake.handle_upload_event(put(key, b">a\nACGT\n"))

    assert outcome.outcome == outcomes.REJECTED
    assert tags(key) == {"amr-status": "rejected", "amr-reason": "user erin is not active"}
    assert _user_jobs(user_id) == []


INVALID_METADATA = [
    ({"min_identity": "high"},
     "invalid parameter in object metadata: x-amz-meta-min_identity='high' is not a valid min_identity"),
    ({"segment-length": "100", "segment-overlap": "200"},
     "invalid parameter in object metadata: segment_overlap must be < segment_length"),
    ({"use-cpu": "maybe"}, "invalid parameter in object metadata: x-amz-meta-use-cpu='maybe' is not a valid use_cpu"),
    ({"batch-size": "5000"},  # the same bounds as POST /jobs params
     "invalid parameter in object metadata: x-amz-meta-batch-size: Input should be less than or equal to 1024"),
]


def test_inbox_invalid_metadata_param_ends_job_in_error(make_user: Callable[..., Any],
                                                       predict_calls: list[str]) -> None:
    user_id, _ = make_user("frank")
    for n, (metadata, message) in enumerate(INVALID_METADATA):
        (outcome,) = intake.handle_upload_event(put(f"inbox/frank/g{n}.fa", b">a\nACGT\n", metadata=metadata))

        job = jobs.get_job(outcome.job_id)
        assert (job.user_id, job.status, job.error) == (user_id, jobs.ERROR, message)
    assert len(_user_jobs(user_id)) == len(INVALID_METADATA) and predict_calls == []


def test_inbox_non_fasta_name_ends_job_in_error(make_user: Callable[..., Any]) -> None:
    user_id, _ = make_user("grace")

    intake.handle_upload_event(put("inbox/grace/notes.txt", b">a\nACGT\n"))

    (job,) = _user_jobs(user_id)
    assert job.status == jobs.ERROR and job.error.startswith("notes.txt: unsupported file name")


def test_metadata_settings_converts_types() -> None:
    name, params, problem, ignored = inbox.metadata_settings(
        {"Job-Name": " run 1 ", "batch-size": "8", "use_cpu": "false", "min-coverage": "0.7", "x": "y"}, "g.fa")
    assert (name, problem, ignored) == ("run 1", None, ["x"])
    assert (params["batch_size"], params["use_cpu"], params["min_coverage"]) == (8, False, 0.7)
    assert inbox.metadata_settings({}, "g.fa")[:3] == ("g.fa", PredictParams().to_dict(), None)

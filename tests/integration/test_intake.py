"""Upload events on moto (chalicelib/prediction/intake.py): S3 notifications parsed and
routed to their job, keys that name no job rejected and tagged, storage failures before a
claim retried; and the helpers the prediction tests share.

Events are built in the exact shape of an AWS S3 notification (keys URL-encoded, spaces
as '+'). Genomes are small synthetic ones (seeded random DNA with real ResFinder alleles
inserted) except for two of Debian's resfinder-example isolates.
"""
from __future__ import annotations

import itertools
import os
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote_plus

import pytest

from chalicelib.core import aws
from chalicelib.core.errors import StorageUnavailable
from chalicelib.core.settings import get_settings
from chalicelib.core.tables import JobModel
from chalicelib.jobs import lifecycle as jobs, queries, s3layout
from chalicelib.prediction import intake, objects, outcomes
from chalicelib.prediction.resfinder_db import DEFAULT_DB_DIR
from tests.unit.test_acquired import insert, random_dna

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
    return [e.message for e in queries.list_events(job_id, limit=500).items]


def tags(key: str) -> dict[str, str]:
    tagset = aws.client("s3").get_object_tagging(Bucket=get_settings().upload_bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tagset}


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


# --------------------------------------------------------------------------- events


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
    assert queries.get_job(job.job_id).status == jobs.COMPLETED
    # S3's configuration test message has no Records: logged and ignored, not a crash.
    assert client.lambda_.invoke("on_upload", {"Service": "Amazon S3", "Event": "s3:TestEvent"}).payload == []


def test_key_with_spaces_and_plus_signs_is_decoded(aws_env: None, kpc: str) -> None:
    job = api_job("sample 1+2.fa")
    event = put(job.input_key, fasta({"chr": insert(random_dna(9000, 2), 100, kpc)}))
    raw_key = event["Records"][0]["s3"]["object"]["key"]
    assert raw_key.endswith("/sample+1%2B2.fa")

    (outcome,) = intake.handle_upload_event(event)

    assert outcome.outcome == outcomes.COMPLETED
    assert queries.get_job(job.job_id).status == jobs.COMPLETED


def test_storage_failure_before_claim_asks_lambda_to_retry(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(500, 11)}))
    real = objects.head_object
    monkeypatch.setattr(objects, "head_object", lambda ref: (_ for _ in ()).throw(StorageUnavailable("down")))

    with pytest.raises(intake.RetryLater):
        intake.handle_upload_event(event)
    assert queries.get_job(job.job_id).status == jobs.SUBMITTED

    monkeypatch.setattr(objects, "head_object", real)
    (outcome,) = intake.handle_upload_event(event)  # Lambda's retry of the same event
    assert outcome.outcome == outcomes.COMPLETED


# --------------------------------------------------------------------------- rejected keys


def test_upload_key_naming_another_users_job_is_rejected(aws_env: None, predict_calls: list[str]) -> None:
    victim = api_job("g.fa")
    key = s3layout.upload_key(str(uuid.uuid4()), victim.job_id, "g.fa")

    (outcome,) = intake.handle_upload_event(put(key, fasta({"a": random_dna(500, 16)})))

    assert outcome.outcome == outcomes.REJECTED
    assert tags(key) == {"amr-status": "rejected", "amr-reason": "key does not match the owner or upload key of the job"}
    assert queries.get_job(victim.job_id).status == jobs.SUBMITTED and predict_calls == []


def test_upload_key_other_than_the_recorded_one_is_rejected(aws_env: None) -> None:
    job = api_job("g.fa")
    key = s3layout.upload_key(job.user_id, job.job_id, "other.fa")

    (outcome,) = intake.handle_upload_event(put(key, fasta({"a": random_dna(500, 17)})))

    assert outcome.outcome == outcomes.REJECTED and tags(key)["amr-status"] == "rejected"
    assert queries.get_job(job.job_id).status == jobs.SUBMITTED


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

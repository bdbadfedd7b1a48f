"""Inbox drops on moto (chalicelib/prediction/inbox.py): a drop makes a job for its active
user, named and parametrised by the object's metadata, once whatever the deliveries; a drop
that makes no job is tagged with the reason.
"""
from __future__ import annotations

import gzip
import json
from typing import Any, Callable

import pytest

from chalicelib.core.errors import NotFound
from chalicelib.core.tables import JobModel
from chalicelib.jobs import lifecycle as jobs, queries
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import inbox, intake, outcomes
from tests.integration.test_intake import (
    DB_PRESENT, deliver_concurrently, event_messages, fasta, put, result_objects, tags,
)
from tests.unit.test_acquired import insert, random_dna

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")


def _user_jobs(user_id: str) -> list[JobModel]:
    return queries.list_user_jobs(user_id, limit=100).items


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
        queries.get_job(inbox.inbox_job_id(intake.parse_records(event)[0]))


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

        job = queries.get_job(outcome.job_id)
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

"""Running a job on moto (chalicelib/prediction/runner.py): the claim runs it once, it
predicts from the uploaded input and ends Completed with result files, Cancelled without
them, or Error with a message for the user (never a trace).
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.core.errors import StorageUnavailable
from chalicelib.jobs import lifecycle as jobs, queries, s3layout
from chalicelib.prediction import acquired as predictor, intake, objects, outcomes, runner
from chalicelib.prediction.resfinder_db import load_db
from tests.integration.test_intake import (
    DB_PRESENT, EXAMPLES, SMALL_PARAMS, api_job, deliver_concurrently, event_messages, fasta, put, result_objects,
    upload,
)
from tests.unit.test_acquired import insert, random_dna, revcomp

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")


# --------------------------------------------------------------------------- happy paths


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="resfinder-example data not installed")
@pytest.mark.parametrize("name, expected", [("test_isolate_01.fa.gz", ["blaB-2"]),
                                            ("test_isolate_02.fa", ["blaCTX-M-33"])])
def test_example_isolate_upload_completes_with_results(aws_env: None, name: str, expected: list[str]) -> None:
    body = (EXAMPLES / name).read_bytes()
    job = api_job(name, params={})

    outcome = upload(job, body)

    assert outcome.outcome == outcomes.COMPLETED
    done = queries.get_job(job.job_id)
    assert done.status == jobs.COMPLETED and done.progress == 100 and done.input_size == len(body)
    files = result_objects(job)
    assert set(files) == {"predictions.json", "predictions.tsv", "hamronization.tsv", "pointfinder.tsv", "phenotypes.tsv",
                          "mlst.tsv", "plasmids.tsv"}
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

    done = queries.get_job(job.job_id)
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

        done = queries.get_job(job.job_id)
        assert outcome.outcome == outcomes.FAILED and done.status == jobs.ERROR, case
        assert done.error.startswith(message) and "Traceback" not in done.error, (case, done.error)
        assert result_objects(job) == {} and not done.result_keys, case
        assert any(message in m for m in event_messages(job.job_id)), case


def test_oversized_upload_is_refused_before_reading(aws_env: None, monkeypatch: pytest.MonkeyPatch,
                                                    predict_calls: list[str]) -> None:
    monkeypatch.setenv(runner.MAX_UPLOAD_ENV, "1000")
    job = api_job("big.fa")

    upload(job, fasta({"a": random_dna(2000, 6)}))

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR and done.error.startswith("big.fa: file too large (")
    assert "the limit is 1000 bytes" in done.error
    assert predict_calls == [] and result_objects(job) == {}


def test_gzip_bomb_is_stopped_by_the_decompressed_limit(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runner.MAX_UPLOAD_ENV, "20000")
    body = gzip.compress(b">a\n" + b"A" * 200_000 + b"\n")
    assert len(body) < 20000
    job = api_job("bomb.fa.gz")

    upload(job, body)

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR and "decompressed content is larger than the limit" in done.error


def test_invalid_stored_params_end_in_error(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa", params={"segment_length": 100, "segment_overlap": 100})

    upload(job, fasta({"a": random_dna(500, 7)}))

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR and done.error == "invalid parameters: segment_overlap must be < segment_length"
    assert predict_calls == []


# --------------------------------------------------------------------------- failures


def test_unexpected_exception_gives_reference_not_trace(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at 0xdeadbeef")

    monkeypatch.setattr(predictor, "predict_stream", boom)
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 8)}), SimpleNamespace(aws_request_id="req-42"))

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "internal error while predicting (reference req-42)"


def test_storage_failure_while_writing_results_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: Any, **kwargs: Any) -> None:
        raise StorageUnavailable("Storage is temporarily unavailable (s3.put); please retry shortly.")

    monkeypatch.setattr(s3layout, "put_object", down)
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 9)}))

    done = queries.get_job(job.job_id)
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

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "Storage is temporarily unavailable (reading the uploaded file); please upload it again."


def test_missing_database_ends_in_error(aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMR_RESFINDER_DB", str(tmp_path / "no-db"))
    job = api_job("g.fa")

    upload(job, fasta({"a": random_dna(500, 10)}), SimpleNamespace(aws_request_id="req-7"))

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error == "the prediction database is unavailable on the server (reference req-7)"


# --------------------------------------------------------------------------- at-least-once delivery


def test_duplicate_event_runs_one_prediction(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(3000, 12)}))

    first = intake.handle_upload_event(event)
    second = intake.handle_upload_event(event)

    assert [o.outcome for o in first + second] == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert predict_calls == ["g.fa"]
    assert sum(m.startswith("Prediction started") for m in event_messages(job.job_id)) == 1
    assert queries.get_job(job.job_id).status == jobs.COMPLETED


def test_concurrent_deliveries_run_exactly_once(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    event = put(job.input_key, fasta({"a": random_dna(3000, 13)}))
    seen = deliver_concurrently(event, 2)
    assert sorted(seen) == [outcomes.COMPLETED, outcomes.DUPLICATE]
    assert len(predict_calls) == 1
    assert queries.get_job(job.job_id).status == jobs.COMPLETED


# --------------------------------------------------------------------------- cancellation


def test_cancel_mid_run_stops_at_next_batch_without_results(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 batches of one segment (contigs longer than a segment: a shorter one is a share of one)
    genome = {f"c{i}": random_dna(6000, 20 + i) for i in range(10)}
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

    done = queries.get_job(job.job_id)
    assert outcome.outcome == outcomes.CANCELLED and done.status == jobs.CANCELLED
    assert writes == [True, False]  # stopped at the second batch of twenty
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
    assert queries.get_job(job.job_id).status == jobs.CANCELLED and result_objects(job) == {}


def test_upload_for_cancelled_job_is_not_run(aws_env: None, predict_calls: list[str]) -> None:
    job = api_job("g.fa")
    jobs.transition(job.job_id, jobs.CANCELLED)

    assert upload(job, fasta({"a": random_dna(500, 15)})).outcome == outcomes.DUPLICATE
    assert predict_calls == [] and queries.get_job(job.job_id).status == jobs.CANCELLED

"""Hostile input ends in `Error`, fast, with bounded stored and logged values (design §23)."""

from __future__ import annotations

import gzip
import io
import tracemalloc

import pytest

from chalicelib.core import bounds
from chalicelib.jobs import lifecycle as jobs
from chalicelib.jobs import queries
from chalicelib.jobs import s3layout
from chalicelib.prediction.fasta import FastaReader, InputError
from chalicelib.prediction.reads.fastq import FastqReader
from tests.integration.test_intake import api_job, event_messages, upload

MB = 1 << 20


def _logged(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_duplicated_giant_header_ends_in_error_with_bounded_values(
    aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today: the message quotes the 1 MB id twice, the Error write exceeds 400 KB, the job stays Running."""
    header = b">" + b"H" * MB + b"\n"
    body = header + b"ACGT" * 50 + b"\n" + header + b"ACGT" * 50 + b"\n"
    job = api_job("giant.fa")

    upload(job, body)

    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR
    assert done.error.startswith("giant.fa, line 1: header line longer than the limit of 64 kB")
    assert len(done.error) <= bounds.MAX_MESSAGE_CHARS
    assert all(len(m) <= bounds.MAX_MESSAGE_CHARS for m in event_messages(job.job_id))
    assert max(len(line) for line in _logged(capsys)) < 10_000


def test_a_long_id_within_the_header_limit_is_refused_by_name(aws_env: None) -> None:
    body = b">" + b"x" * 5000 + b"\nACGT\n"
    job = api_job("longid.fa")
    upload(job, body)
    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR and "sequence id longer than the limit of 1000 characters" in done.error
    assert len(done.error) < 300


def test_one_enormous_line_is_refused_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip that decompresses to one 64 MB line: refused at the line limit, holding ~ the limit."""
    monkeypatch.setenv(bounds.LINE_ENV, str(4 * MB))
    body = gzip.compress(b">a\n" + b"A" * (64 * MB), compresslevel=1)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as refused:
            list(FastaReader(io.BytesIO(body), name="line.fa.gz", max_bytes=500 * MB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(refused.value) == "line.fa.gz, line 2: line longer than the limit of 4 MB (AMR_MAX_LINE_BYTES)"
    assert peak < 16 * MB


def test_a_fastq_of_one_enormous_line_is_refused_in_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bounds.LINE_ENV, str(2 * MB))
    body = gzip.compress(b"@r1\n" + b"A" * (32 * MB), compresslevel=1)
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as refused:
            for _ in FastqReader(io.BytesIO(body), name="r.fq.gz", max_bytes=500 * MB).blocks():
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "r.fq.gz, line 2: line longer than the limit of 2097152 bytes" in str(refused.value)
    assert peak < 16 * MB


def test_a_decompression_bomb_is_refused_at_the_configured_size_in_bounded_memory(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(s3layout.MAX_UPLOAD_ENV, str(8 * MB))
    lines = (b"ACGT" * 20 + b"\n") * (200 * MB // 81)
    body = gzip.compress(b">bomb\n" + lines, compresslevel=9)
    assert len(body) < MB
    job = api_job("bomb.fa.gz")
    tracemalloc.start()
    try:
        upload(job, body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    done = queries.get_job(job.job_id)
    assert done.status == jobs.ERROR and "decompressed content is larger than the limit of 8 MB" in done.error
    assert peak < 64 * MB


def test_clip_says_what_it_left_out() -> None:
    assert bounds.clip("abc", 10) == "abc"
    clipped = bounds.clip("x" * 5000, 100)
    assert len(clipped) == 100 and clipped.endswith("more characters]")
    assert bounds.quote("y" * 500, 10) == "'yyyyyyyyyy'… (500 characters)"

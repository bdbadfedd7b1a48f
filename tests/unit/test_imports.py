"""Imported jobs (`imports.import_jobs`): one transaction per owner chunk, an existing
job left alone while the rest are written and counted, and the emulator's rollback of a
refused transaction restoring exactly what it touched."""
from __future__ import annotations

import pytest

from chalicelib.core.errors import InvalidTransition
from chalicelib.core.tables import JobEventModel, JobModel
from chalicelib.jobs import counters, imports, lifecycle, queries, transactions


def imported(job_id: str, user_id: str = "u1", status: str = "Completed") -> imports.ImportedJob:
    job = imports.imported_job(
        job_id=job_id, user_id=user_id, status=status, created_at="2024-01-01T00:00:00.000Z", job_name=job_id,
        started_at="2024-01-01T00:00:00.000Z", completed_at="2024-01-01T00:00:30.000Z", params={}, progress=100,
    )
    return imports.ImportedJob(job, (("INFO", "Imported from legacy database"),))


@pytest.mark.usefixtures("aws_env")
def test_an_existing_job_in_a_chunk_is_skipped_and_the_rest_counted() -> None:
    lifecycle.create_job(user_id="u1", job_name="newer", params={}, job_id="00000000-0000-4000-8000-000000000002")
    batch = [imported(f"00000000-0000-4000-8000-00000000000{i}") for i in range(1, 5)]
    present = imports.import_jobs(batch)
    assert present == ["00000000-0000-4000-8000-000000000002"]
    assert queries.get_job(present[0]).job_name == "newer"  # never overwritten
    stats = queries.get_stats(queries.user_scope("u1"))
    assert stats["by_status"]["Completed"] == 3 and stats["by_status"]["Submitted"] == 1
    assert stats["avg_duration_seconds"] == 30.0 and stats["success_rate"] == 1.0
    assert len(list(JobEventModel.query(batch[0].job.job_id))) == 1
    assert imports.import_jobs(batch) == [j.job.job_id for j in batch]  # all there now: nothing written
    assert queries.get_stats(queries.GLOBAL_SCOPE)["total"] == 4


@pytest.mark.usefixtures("aws_env")
def test_chunks_stay_within_the_transaction_limit_and_one_owner() -> None:
    batch = [imported(f"00000000-0000-4000-8000-{i:012d}", user_id=f"u{i % 2}") for i in range(130)]
    chunks = transactions.job_chunks(batch)
    assert all(len({i.job.user_id for i in c}) == 1 for c in chunks)
    assert all(sum(i.size for i in c) + 2 <= transactions.MAX_TX_ITEMS for c in chunks)
    assert sum(len(c) for c in chunks) == 130
    imports.import_jobs(batch)
    for user in ("u0", "u1"):
        assert queries.get_stats(queries.user_scope(user))["by_status"]["Completed"] == 65


@pytest.mark.usefixtures("aws_env")
def test_a_refused_transaction_changes_nothing_on_the_emulator() -> None:
    lifecycle.create_job(user_id="u1", job_name="first", params={}, job_id="00000000-0000-4000-8000-000000000009")
    counters_before = counters.read(queries.GLOBAL_SCOPE)  # every shard of the global counters
    # the existing job is last in the chunk, after a new job, an event and before the counters
    batch = [imported("00000000-0000-4000-8000-000000000008"), imported("00000000-0000-4000-8000-000000000009")]
    try:
        transactions.write_jobs(batch, {"source": "legacy"})
    except InvalidTransition:
        pass
    else:
        pytest.fail("the transaction should have been refused")
    assert counters.read(queries.GLOBAL_SCOPE) == counters_before
    with pytest.raises(Exception):
        JobModel.get("00000000-0000-4000-8000-000000000008")
    assert list(JobEventModel.query("00000000-0000-4000-8000-000000000008")) == []

"""The batch workbook (design §21): its sheets for the four Kleborate genomes as one batch, and
the time and size of a 500-sample batch's workbook against API Gateway's and Lambda's limits.

    python bench/workbook.py [--samples 500]

Runs in-process on moto (the `test` stage, as the integration tests do), through the real
route `GET /batches/{id}/matrix?format=xlsx` and Chalice's test client:

1. the four genomes of Debian's `kleborate-examples`, gzip-compressed, are uploaded into a
   batch of four and predicted by the real prediction handler (species klebsiella);
   the workbook's sheets are read back with openpyxl and printed with their row counts;
2. a batch of N samples (default 500, the most a batch holds) whose jobs hold those four
   genomes' real `predictions.json` in turn (stored as the prediction handler stores them,
   then moved to Completed through the job lifecycle): the route is timed (reading the
   N results from S3, building the matrix and the workbook) and its size compared with a
   Lambda response (6 MB, base64 included) and API Gateway's 29 s;
3. the same N-sample workbook written by openpyxl's write-only mode instead of XlsxWriter,
   the comparison behind the choice of XlsxWriter.

It prints, never asserts, and exits 0 even when something is missing.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import io
import json
import lzma
import time
from pathlib import Path
from typing import Any

import benchenv  # noqa: F401  (must precede chalicelib imports: the test stage, fake credentials)

GENOMES = Path("/usr/share/doc/kleborate/examples/data")
NAMES = ("Klebs_HS11286", "Klebs_Kp1084", "MGH78578", "NTUH-K2044")
LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
GATEWAY_SECONDS = 29.0


def setup() -> Any:
    """moto with the service's tables and buckets, and a signed-in user's headers."""
    from moto import mock_aws

    from chalicelib.core import aws
    from local.emulator import serialise_writes
    from local.provision import provision

    serialise_writes()  # moto applies a transaction's items one by one; DynamoDB does not
    mocked = mock_aws()
    mocked.start()
    aws.reset_clients()
    provision()
    return mocked


def user_headers() -> dict[str, str]:
    from chalicelib.accounts import auth, users

    user = users.create_user(username="bench", email="bench@example.org", password="correct-horse-1")
    return {"Authorization": f"Bearer {auth.issue_token(user)}", "Content-Type": "application/json"}


def create_batch(client: Any, headers: dict[str, str], name: str, samples: list[str]) -> dict[str, Any]:
    body = {
        "batch_name": name,
        "params": {"species": "klebsiella"},
        "samples": [{"name": s, "filename": f"{s}.fna.gz"} for s in samples],
    }
    response = client.http.post("/batches", headers=headers, body=json.dumps(body))
    if response.status_code != 201:
        raise SystemExit(f"POST /batches answered {response.status_code}: {response.body!r}")
    return response.json_body  # type: ignore[no-any-return]


def upload_and_predict(key: str, data: bytes) -> str:
    """Put the object and hand its event to the prediction handler, as S3 would."""
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings
    from chalicelib.prediction import intake

    put = aws.client("s3").put_object(Bucket=get_settings().upload_bucket, Key=key, Body=data)
    event = {
        "Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": get_settings().upload_bucket},
                   "object": {"key": key, "size": len(data), "eTag": put["ETag"].strip('"'),
                              "sequencer": f"{time.time_ns():016X}"}},
        }]
    }  # fmt: skip
    (outcome,) = intake.handle_upload_event(event, None)
    return str(outcome.outcome)


def workbook(client: Any, headers: dict[str, str], batch_id: str) -> tuple[bytes, float]:
    from chalicelib.batches.schemas import XLSX_MEDIA_TYPE

    t0 = time.perf_counter()
    response = client.http.get(
        f"/batches/{batch_id}/matrix?format=xlsx", headers={**headers, "Accept": XLSX_MEDIA_TYPE}
    )
    seconds = time.perf_counter() - t0
    if response.status_code != 200:
        raise SystemExit(f"the workbook route answered {response.status_code}: {response.body[:300]!r}")
    return bytes(response.body), seconds


def sheet_rows(data: bytes) -> list[tuple[str, int, int]]:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    out = []
    for ws in book.worksheets:
        rows = list(ws.iter_rows(values_only=True))
        out.append((ws.title, max(0, len(rows) - 1), len(rows[0]) if rows else 0))
    return out


def four_genomes(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Predict the four genomes as one batch; print the workbook's sheets; return each
    genome's predictions.json."""
    created = create_batch(client, headers, "kleborate four", list(NAMES))
    predictions: dict[str, dict[str, Any]] = {}
    for opened, name in zip(created["jobs"], NAMES, strict=True):
        data = gzip.compress(lzma.decompress((GENOMES / f"{name}.fna.xz").read_bytes()), compresslevel=1)
        t0 = time.perf_counter()
        outcome = upload_and_predict(opened["job"]["input"]["key"], data)
        print(f"  {name:<14} {outcome:<10} {time.perf_counter() - t0:5.1f} s")
        results = client.http.get(f"/jobs/{opened['job']['job_id']}/results", headers=headers).json_body
        predictions[name] = {k: v for k, v in results.items() if k != "download_urls"}
    data, seconds = workbook(client, headers, created["batch"]["batch_id"])
    print(f"\nWorkbook of the four genomes: {len(data) / 1024:.1f} KiB, {seconds:.2f} s")
    print(f"  {'sheet':<10} {'rows':>5} {'columns':>8}")
    for title, rows, columns in sheet_rows(data):
        print(f"  {title:<10} {rows:>5} {columns:>8}")
    return predictions


def large_batch(client: Any, headers: dict[str, str], predictions: dict[str, dict[str, Any]], size: int) -> None:
    """N samples holding the four genomes' results in turn; the route timed end to end."""
    from chalicelib.core import aws
    from chalicelib.core.settings import get_settings
    from chalicelib.jobs import lifecycle, queries, s3layout
    from chalicelib.prediction import render

    names = [f"isolate-{i:03d}" for i in range(size)]
    created = create_batch(client, headers, f"{size} samples", names)
    s3 = aws.client("s3")
    bucket = get_settings().results_bucket
    t0 = time.perf_counter()
    for index, opened in enumerate(created["jobs"]):
        job = queries.get_job(opened["job"]["job_id"])
        source = predictions[NAMES[index % len(NAMES)]]
        body = json.dumps({**source, "job_id": job.job_id}, ensure_ascii=False).encode()
        key = s3layout.result_key(job.user_id, job.job_id, s3layout.PREDICTIONS_JSON)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        job = lifecycle.transition(job, lifecycle.RUNNING)
        summary = {"genes": len(source["genes"]), "resistant": source.get("resistant", [])[:100]}
        lifecycle.transition(job, lifecycle.COMPLETED, result_keys=[key], summary=summary)
    print(
        f"\n{size} completed samples stored in {time.perf_counter() - t0:.1f} s (moto); "
        f"service version {render.SOFTWARE_VERSION}"
    )
    runs = [workbook(client, headers, created["batch"]["batch_id"]) for _ in range(3)]
    data = runs[-1][0]
    seconds = sorted(s for _, s in runs)[1]
    encoded = len(base64.b64encode(data))
    print(f"Workbook of {size} samples (GET .../matrix?format=xlsx, median of 3): {seconds:.2f} s, "
          f"{len(data) / 1e6:.2f} MB ({encoded / 1e6:.2f} MB as base64)")  # fmt: skip
    print(f"  Lambda response limit {LAMBDA_RESPONSE_BYTES / 1e6:.1f} MB: {encoded / LAMBDA_RESPONSE_BYTES:.0%} used; "
          f"API Gateway's {GATEWAY_SECONDS:.0f} s: {seconds / GATEWAY_SECONDS:.0%} used")  # fmt: skip
    for title, rows, columns in sheet_rows(data):
        print(f"  {title:<10} {rows:>6} rows {columns:>4} columns")
    writers(created, predictions, size)


def writers(created: dict[str, Any], predictions: dict[str, dict[str, Any]], size: int) -> None:
    """The N-sample workbook's sheets written by XlsxWriter (the service) and by openpyxl."""
    from chalicelib.batches import matrix
    from chalicelib.batches import workbook as wb
    from chalicelib.batches.store import get_for
    from chalicelib.core import clock
    from chalicelib.core.tables import plain

    batch = get_for(created["batch"]["batch_id"], created["batch"]["user_id"], False)
    t0 = time.perf_counter()
    jobs, reads = matrix.gather(batch)
    gathered = time.perf_counter() - t0
    table = matrix.table(batch, jobs, reads)
    info = wb.BatchInfo(batch.batch_id, batch.batch_name, batch.created_at, clock.now_iso(), "bench",
                        plain(batch.params) or {})  # fmt: skip
    samples = wb.samples_of(jobs, reads, table)
    t0 = time.perf_counter()
    xlsxwriter_bytes = wb.build(info, table["antibiotics"], samples)
    with_xlsxwriter = time.perf_counter() - t0
    t0 = time.perf_counter()
    openpyxl_bytes = openpyxl_build(wb.sheets(info, table["antibiotics"], samples))
    with_openpyxl = time.perf_counter() - t0
    print(f"\nOf that: reading {size} results from S3 {gathered:.2f} s (16 threads; moto in-process)")
    print(f"  XlsxWriter (the service): {with_xlsxwriter:.2f} s, {len(xlsxwriter_bytes) / 1e6:.2f} MB")
    print(f"  openpyxl write-only:      {with_openpyxl:.2f} s, {len(openpyxl_bytes) / 1e6:.2f} MB "
          f"({with_openpyxl / with_xlsxwriter:.1f}x XlsxWriter's time)")  # fmt: skip


def openpyxl_build(sheets: list[Any]) -> bytes:
    """The same cells with openpyxl's write-only mode, styled alike (bold header, coloured calls)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    from chalicelib.batches.workbook import CALL_STYLE, cell_value

    fills = {k: PatternFill("solid", fgColor=v["bg_color"][1:]) for k, v in CALL_STYLE.items() if v}
    book = Workbook(write_only=True)
    for sheet in sheets:
        ws = book.create_sheet(sheet.title)
        ws.freeze_panes = sheet.freeze
        header = []
        for title in sheet.header:
            cell = WriteOnlyCell(ws, value=title)
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        for row in sheet.rows:
            cells = []
            for index, value in enumerate(row, start=1):
                cell = WriteOnlyCell(ws, value=cell_value(value))
                if sheet.calls_from and index >= sheet.calls_from and value in fills:
                    cell.fill = fills[value]
                cells.append(cell)
            ws.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=500, help="samples of the large batch (at most 500)")
    args = parser.parse_args()
    missing = [n for n in NAMES if not (GENOMES / f"{n}.fna.xz").exists()]
    if missing:
        print(f"kleborate-examples not installed (missing {', '.join(missing)}): `make debs-bench`")
        return 0
    from chalice.test import Client

    from app import app

    mocked = setup()
    try:
        with Client(app, stage_name="local") as client:
            headers = user_headers()
            print("Predicting the four kleborate-examples genomes as one batch (species klebsiella):")
            predictions = four_genomes(client, headers)
            large_batch(client, headers, predictions, min(500, max(1, args.samples)))
    finally:
        mocked.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

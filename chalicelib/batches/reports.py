"""The batch workbook over HTTP (design §21): `GET /batches/{id}/matrix?format=xlsx`.

The workbook is built in the request and sent as the response body: API Gateway passes
it as binary (the media type is among the API's binary types, `app.py`) when the request
asks for it with `Accept: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`.
A 500-sample batch is about 1 MB and a few seconds (`bench/workbook.py`), far inside a
Lambda response (6 MB, so 4.4 MB before base64) and API Gateway's 29 s; the choice and the
figures are in the README ("Batch workbook").
"""

from __future__ import annotations

import re

from chalice.app import Request, Response

from chalicelib.batches import matrix
from chalicelib.batches.schemas import XLSX_MEDIA_TYPE
from chalicelib.core import clock
from chalicelib.core.errors import ServiceError
from chalicelib.core.observability import logger
from chalicelib.core.tables import BatchModel, plain
from chalicelib.jobs.schemas import JobParams

#: A Lambda response carries 6 MB; base64 makes 4 bytes of 3, and headers need a little room.
MAX_INLINE_BYTES = 4 * 1024 * 1024


class NotAcceptable(ServiceError):
    status, code = 406, "not_acceptable"


class WorkbookTooLarge(ServiceError):
    status, code = 413, "workbook_too_large"


def file_stem(batch: BatchModel) -> str:
    """The batch's name as a safe file name (the download's name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", batch.batch_name).strip("_") or "batch"


def accepts_xlsx(request: Request) -> bool:
    """API Gateway converts a binary body only for a request whose Accept names its type."""
    accept = str(request.headers.get("accept") or "") if request.headers else ""
    return any(part.split(";")[0].strip().lower() == XLSX_MEDIA_TYPE for part in accept.split(","))


def service_version() -> str:
    """The analysis software's version, as the result files (hAMRonization) name it."""
    from chalicelib.prediction import render  # the result files' renderer; loads only here

    return render.SOFTWARE_VERSION


def workbook_response(batch: BatchModel, request: Request) -> Response:
    if not accepts_xlsx(request):
        raise NotAcceptable(f"The workbook is binary: send the header 'Accept: {XLSX_MEDIA_TYPE}'")
    from chalicelib.batches import workbook  # XlsxWriter loads only for the routes that write one

    jobs, reads = matrix.gather(batch)
    table = matrix.table(batch, jobs, reads)
    info = workbook.BatchInfo(
        batch_id=batch.batch_id,
        batch_name=batch.batch_name,
        created_at=batch.created_at,
        generated_at=clock.now_iso(),
        service_version=service_version(),
        params=plain(batch.params) or {},
        default_params=JobParams.model_validate({}).to_store(),
    )
    body = workbook.build(info, table["antibiotics"], workbook.samples_of(jobs, reads, table))
    logger.info("batch workbook built", extra={"bytes": len(body), "samples": len(jobs)})
    if len(body) > MAX_INLINE_BYTES:
        raise WorkbookTooLarge(
            f"The workbook is {len(body) / 1e6:.1f} MB, more than a response carries "
            f"({MAX_INLINE_BYTES / 1e6:.1f} MB); download the matrix as TSV (format=tsv) instead"
        )
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": XLSX_MEDIA_TYPE,
            "Content-Disposition": f'attachment; filename="{file_stem(batch)}-results.xlsx"',
        },
    )

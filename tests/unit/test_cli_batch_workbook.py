"""`amr batch matrix --format xlsx -o FILE` (design §21): the workbook is asked for with the
Accept header API Gateway needs and written byte for byte."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from amrcli.batches import XLSX_MEDIA_TYPE
from amrcli.errors import Exit
from amrcli.main import main
from chalicelib.batches.schemas import XLSX_MEDIA_TYPE as SERVICE_MEDIA_TYPE
from tests.unit.test_cli_args import config_home, logged_in, no_requests, routes  # noqa: F401  (fixture)

WORKBOOK = b"PK\x03\x04 a workbook's bytes \x00\xff"


def test_the_workbook_is_written_to_the_file_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=WORKBOOK, headers={"Content-Type": XLSX_MEDIA_TYPE})

    target = tmp_path / "run.xlsx"
    transport = routes({("GET", "/batches/b-1/matrix"): answer})
    assert main(["batch", "matrix", "b-1", "--format", "xlsx", "-o", str(target)], transport) == Exit.OK
    assert target.read_bytes() == WORKBOOK
    (request,) = seen
    assert request.url.params["format"] == "xlsx" and request.headers["Accept"] == XLSX_MEDIA_TYPE
    assert request.headers["Authorization"] == "Bearer token-1"
    assert str(target) in capsys.readouterr().out
    assert XLSX_MEDIA_TYPE == SERVICE_MEDIA_TYPE


def test_without_a_file_the_workbook_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    logged_in()
    assert main(["batch", "matrix", "b-1", "--format", "xlsx"], httpx.MockTransport(no_requests)) == Exit.USAGE
    assert "--output" in capsys.readouterr().err


def test_an_unknown_batch_is_not_found(tmp_path: Path) -> None:
    logged_in()
    target = tmp_path / "run.xlsx"
    assert main(["batch", "matrix", "nope", "--format", "xlsx", "-o", str(target)], routes({})) == Exit.NOT_FOUND
    assert not target.exists()

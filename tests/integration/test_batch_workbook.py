"""The batch workbook (design §21) through the Chalice test client on moto, with real predictions:
every sheet is read back with openpyxl and compared with the JSON the API answers."""

from __future__ import annotations

import io
import json
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook

import app as service
from chalicelib.batches.schemas import XLSX_MEDIA_TYPE
from chalicelib.core.clock import FakeClock
from chalicelib.gateway import openapi
from chalicelib.prediction import outcomes
from chalicelib.prediction.resfinder_db import load_db
from tests.integration.test_batches import get, upload
from tests.integration.test_intake import DB_PRESENT, SMALL_PARAMS, fasta
from tests.unit.test_acquired import KPC, insert, random_dna

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")

XLSX = {"Accept": XLSX_MEDIA_TYPE}
SHEETS = ["Summary", "Matrix", "Genes", "Mutations", "Plasmids", "MLST", "QC", "Settings"]
#: A sample name a spreadsheet would run if it were written as a formula.
FORMULA_NAME = '=HYPERLINK("http://example.invalid","x")'


@pytest.fixture(scope="module")
def genomes() -> dict[str, bytes]:
    kpc = load_db().alleles[KPC].sequence
    return {
        "kpc": fasta({"c1": insert(random_dna(6000, 1), 2000, kpc)}),
        "plain": fasta({"c1": random_dna(6000, 2)}),
    }


def rows_of(book: Workbook, title: str) -> list[dict[str, Any]]:
    values = list(book[title].iter_rows(values_only=True))
    header = [str(h) for h in values[0]]
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


def workbook_of(client: Any, batch_id: str, headers: dict[str, str]) -> tuple[Any, Workbook]:
    response = client.http.get(f"/batches/{batch_id}/matrix?format=xlsx", headers={**headers, **XLSX})
    assert response.status_code == 200, response.body
    return response, openpyxl.load_workbook(io.BytesIO(response.body))


@pytest.fixture
def finished_batch(client: Any, make_user: Any, genomes: dict[str, bytes]) -> dict[str, Any]:
    """s1 carries blaKPC-2, s2 nothing, a formula-like name nothing either, s4 is not a genome,
    s5 never uploads."""
    _, headers = make_user()
    names = ["s1", "s2", FORMULA_NAME, "s4", "s5"]
    body = {
        "batch_name": "run 42",
        "params": {**SMALL_PARAMS, "species": "escherichia coli"},
        "samples": [{"name": n, "filename": f"{i}.fasta"} for i, n in enumerate(names)],
    }
    response = client.http.post("/batches", headers=headers, body=json.dumps(body))
    assert response.status_code == 201, response.body
    created = response.json_body
    jobs = [j["job"] for j in created["jobs"]]
    assert upload(jobs[0], genomes["kpc"]).outcome == outcomes.COMPLETED
    assert upload(jobs[1], genomes["plain"]).outcome == outcomes.COMPLETED
    assert upload(jobs[2], genomes["plain"]).outcome == outcomes.COMPLETED
    assert upload(jobs[3], b"not a genome\n").outcome == outcomes.FAILED
    batch_id = created["batch"]["batch_id"]
    results = {j["job_name"]: get(client, f"/jobs/{j['job_id']}/results", headers) for j in jobs[:3]}
    matrix = get(client, f"/batches/{batch_id}/matrix", headers)
    return {"batch": created["batch"], "headers": headers, "jobs": jobs, "results": results, "matrix": matrix}


def test_every_sheet_agrees_with_the_json_results(
    client: Any, finished_batch: dict[str, Any], fake_clock: FakeClock
) -> None:
    batch, headers, results, matrix = (finished_batch[k] for k in ("batch", "headers", "results", "matrix"))
    response, book = workbook_of(client, batch["batch_id"], headers)
    assert response.headers["Content-Type"] == XLSX_MEDIA_TYPE
    assert 'filename="run_42-results.xlsx"' in response.headers["Content-Disposition"]
    assert book.sheetnames == SHEETS
    jobs = {j["job_name"]: j for j in finished_batch["jobs"]}

    # Summary: one row per sample in submission order, as the matrix and the results say.
    summary = rows_of(book, "Summary")
    assert [r["sample"] for r in summary] == [r["sample"] for r in matrix["rows"]]
    for row, mrow in zip(summary, matrix["rows"], strict=True):
        assert row["status"] == mrow["status"] and row["job id"] == mrow["job_id"]
        if mrow["sample"] in results:
            res = results[mrow["sample"]]
            resistant = [a for a, c in mrow["calls"].items() if c == "R"]
            assert (row["resistant antibiotics"] or "") == ", ".join(resistant)
            assert set(a for a in (row["resistant antibiotics"] or "").split(", ") if a) == set(res["resistant"])
            assert row["genes"] == (", ".join(sorted({g["gene"] for g in res["genes"]})) or "none")
            assert row["mutations"] == (", ".join(m["mutation"] for m in res["mutations"]) or "none")
            assert row["species given"] == res["species"]
            # Typing (design §20) ran: E. coli has two schemes, so each ST names its scheme.
            assert res["typing_database"] and len(res["mlst"]) == 2
            assert row["ST"] == ", ".join(f"{m['st']} ({m['scheme']})" for m in res["mlst"])
            assert row["replicons"] == (", ".join(h["replicon"] for h in res["plasmids"]) or "none")
            assert row["QC"] == "not run"
        else:
            assert row["resistant antibiotics"] is None and row["genes"] is None
    assert summary[3]["status"] == "Error" and summary[3]["note"] == matrix["rows"][3]["error"]
    assert summary[4]["status"] == "Submitted"
    assert summary[0]["genes"] == "blaKPC-2" and "meropenem" in summary[0]["resistant antibiotics"]

    # Matrix: antibiotics as columns, every call as the JSON has it, coloured, header frozen.
    sheet = book["Matrix"]
    assert sheet.freeze_panes == "C2"
    header = [c.value for c in sheet[1]]
    assert header == ["sample", "status", *matrix["antibiotics"]]
    for cells, mrow in zip(sheet.iter_rows(min_row=2), matrix["rows"], strict=True):
        assert cells[0].value == mrow["sample"] and cells[1].value == mrow["status"]
        assert [c.value or "" for c in cells[2:]] == [mrow["calls"][a] for a in matrix["antibiotics"]]
        for cell in cells[2:]:
            colour = {"R": "FFC7CE", "S": "C6EFCE"}.get(cell.value or "")
            if colour:
                assert cell.fill.fgColor.rgb.endswith(colour)
    assert any(c.value == "R" for c in sheet[2]) and any(c.value == "S" for c in sheet[3])

    # Genes and Mutations: one row per finding of each finished sample, every field.
    genes = rows_of(book, "Genes")
    expected = [(name, g) for name, res in results.items() for g in res["genes"]]
    assert len(genes) == len(expected) >= 1
    for row, (name, gene) in zip(genes, expected, strict=True):
        assert row["sample"] == name and row["gene"] == gene["gene"] and row["allele"] == gene["allele"]
        assert row["accession"] == gene["accession"] and row["contig"] == gene["contig"]
        assert row["start"] == gene["start"] and row["end"] == gene["end"] and row["strand"] == gene["strand"]
        assert row["identity %"] == gene["identity"] and row["coverage %"] == gene["coverage"]
        assert row["drug class"] == gene["drug_class"] and row["phenotypes"] == ", ".join(gene["phenotypes"])
    mutations = rows_of(book, "Mutations")
    assert len(mutations) == sum(len(r["mutations"]) for r in results.values())

    # Typing ran (one MLST row per scheme); QC did not run for these results: "not run" per sample.
    assert len(rows_of(book, "Plasmids")) == sum(len(r["plasmids"]) for r in results.values())
    assert [(r["sample"], r["scheme"], r["ST"]) for r in rows_of(book, "MLST")] == [
        (n, m["label"], m["st"]) for n, r in results.items() for m in r["mlst"]
    ]
    assert [(r["sample"], r["verdict"]) for r in rows_of(book, "QC")] == [(n, "not run") for n in results]

    # Settings: the database every result names, the batch's parameters, version, time.
    settings = rows_of(book, "Settings")
    found = {(r["section"], r["name"]): r for r in settings}
    db = results["s1"]["database"]
    assert found[("database", "database")]["value"] == db["name"]
    assert found[("database", "database")]["version"] == db["version"]
    assert found[("database", "database")]["samples"] == 3
    point = results["s1"]["point_database"]
    assert found[("database", "point_database")]["version"] == point["version"]
    for name, value in batch["params"].items():
        shown = found[("parameter", name)]["value"]
        assert shown == ({True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value)
    assert found[("service", "generated at")]["value"] == "2026-11-24T12:00:00.000Z"
    assert found[("service", "version")]["value"]
    assert found[("batch", "name")]["value"] == "run 42" and found[("batch", "finished samples")]["value"] == 3

    # Every cell is text or a number, never a formula; the formula-like name is text.
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type in ("s", "n"), (ws.title, cell.coordinate, cell.value)
    assert summary[2]["sample"] == FORMULA_NAME == jobs[FORMULA_NAME]["job_name"]


def test_the_workbook_needs_an_accept_header_naming_it(client: Any, finished_batch: dict[str, Any]) -> None:
    """API Gateway passes a binary body only to a request whose Accept names its type."""
    batch_id, headers = finished_batch["batch"]["batch_id"], finished_batch["headers"]
    response = client.http.get(f"/batches/{batch_id}/matrix?format=xlsx", headers=headers)
    assert response.status_code == 406
    assert XLSX_MEDIA_TYPE in response.json_body["error"]["message"]
    assert XLSX_MEDIA_TYPE in service.app.api.binary_types and openapi.XLSX == XLSX_MEDIA_TYPE
    documented = client.http.get("/openapi.json").json_body["paths"]["/batches/{batch_id}/matrix"]["get"]
    assert XLSX_MEDIA_TYPE in documented["responses"]["200"]["content"] and "406" in documented["responses"]


def test_another_users_batch_has_no_workbook(client: Any, make_user: Any, finished_batch: dict[str, Any]) -> None:
    _, stranger = make_user()
    batch_id = finished_batch["batch"]["batch_id"]
    response = client.http.get(f"/batches/{batch_id}/matrix?format=xlsx", headers={**stranger, **XLSX})
    assert response.status_code == 404


def test_a_batch_with_nothing_finished_is_a_workbook_too(client: Any, make_user: Any) -> None:
    _, headers = make_user()
    body = {"batch_name": "empty", "samples": [{"name": "a", "filename": "a.fasta"}]}
    batch_id = client.http.post("/batches", headers=headers, body=json.dumps(body)).json_body["batch"]["batch_id"]
    _, book = workbook_of(client, batch_id, headers)
    assert book.sheetnames == SHEETS
    assert [(r["sample"], r["status"]) for r in rows_of(book, "Summary")] == [("a", "Submitted")]
    assert [c.value for c in book["Matrix"][1]] == ["sample", "status"]
    assert rows_of(book, "Genes") == [] and rows_of(book, "MLST") == []

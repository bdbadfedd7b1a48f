"""Reports people file and share (design §21) in a real headless Chromium against the local stack:
the batch page's workbook download, read back with openpyxl, and the job page printed to PDF
by Chromium (A4 and Letter), its text read with pdftotext and page 1 rendered to PNG with
pdftoppm (poppler-utils) under `build/screenshots/`.
"""

from __future__ import annotations

import base64
import gzip
import lzma
import shutil
import subprocess
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.browser.browser import SCREENSHOTS, Browser
from tests.browser.conftest import needs_chromium
from tests.e2e.localstack import GENOME, JOB_SECONDS, Stack, needs_db

pytestmark = [pytest.mark.e2e, pytest.mark.slow, needs_chromium, needs_db]

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("pdftotext") and shutil.which("pdfinfo")),
    reason="needs poppler-utils (make test installs it)",
)
USER, EMAIL, PASSWORD = "dora", "dora@example.org", "dora-password-1"
#: Kleborate's example K. pneumoniae (Debian kleborate-examples): 21 genes, resistant to 42 antibiotics.
KLEBSIELLA = Path("/usr/share/doc/kleborate/examples/data/MGH78578.fna.xz")
#: Paper sizes in inches, as Chromium's print-to-PDF takes them.
PAPER = {"a4": (8.27, 11.69), "letter": (8.5, 11.0)}
SHEETS = ["Summary", "Matrix", "Genes", "Mutations", "Plasmids", "MLST", "QC", "Settings"]


def signed_in(browser: Browser, stack: Stack) -> str:
    """An account made through the API; the page gets its token as a sign-in would leave it."""
    reply = stack.http("POST", "/auth/register", {"username": USER, "password": PASSWORD, "email": EMAIL})
    assert reply.status in (201, 409), reply
    token = stack.login(USER, PASSWORD)
    if stack.shared.get("reports-signed-in"):  # an earlier test of the module signed in already
        return token
    stack.shared["reports-signed-in"] = True
    browser.open("#/login")
    browser.wait_heading("Sign in")
    browser.driver.execute_script("localStorage.setItem('amr.token', arguments[0])", token)
    browser.open("#/batches")
    browser.wait_heading("Batches")
    return token


def print_pdf(browser: Browser, paper: tuple[float, float]) -> bytes:
    """Chromium's print-to-PDF of the page as it is (print media, the page's print.css)."""
    width, height = paper
    answer = browser.driver.execute_cdp_cmd(
        "Page.printToPDF",
        {"paperWidth": width, "paperHeight": height, "printBackground": True, "preferCSSPageSize": False},
    )
    return base64.b64decode(answer["data"])


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], check=True, capture_output=True, text=True).stdout


def page_one_png(pdf: Path, name: str) -> Path:
    """Page 1 of the PDF as build/screenshots/NAME.png (pdftoppm, 150 dpi: thin rules stay visible)."""
    target = SCREENSHOTS / name
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(target)], check=True
    )
    return target.with_suffix(".png")


def print_checked(browser: Browser, stack: Stack, token: str, job_id: str, name: str, tmp_path: Path) -> None:
    """Print the job page on A4 and Letter: one page each, the report's content, no chrome."""
    results = stack.http("GET", f"/jobs/{job_id}/results", token=token).body
    resistant = [p["antimicrobial"] for p in results["phenotypes"] if p["phenotype"] == "Resistant"]
    assert resistant, "the example isolate carries resistance"
    for paper, size in PAPER.items():
        pdf = tmp_path / f"{name}-{paper}.pdf"
        pdf.write_bytes(print_pdf(browser, size))
        text = pdf_text(pdf)
        flat = " ".join(text.split())
        shutil.copy(pdf, SCREENSHOTS / pdf.name)
        png = page_one_png(pdf, f"{name}-{paper}")
        assert png.stat().st_size > 10_000
        assert pdf_pages(pdf) == 1, f"{paper}: the report fills {pdf_pages(pdf)} pages"
        assert job_id in flat
        assert "Genotypic prediction" in flat and "phenotypic antimicrobial susceptibility testing" in flat
        assert results["database"]["name"] in flat and results["database"]["version"] in flat
        assert results["point_database"]["version"] in flat
        for antibiotic in resistant:
            assert antibiotic in flat, f"{antibiotic} missing from the printed report"
        for gene in {g["gene"] for g in results["genes"] if g["phenotypes"]}:
            assert gene in flat, f"determinant {gene} missing from the printed report"
        # A plasmid-borne gene is numbered once per contig's replicons, named under the table.
        for where in {", ".join(g["location"]["replicons"]) for g in results["genes"]
                      if (g.get("location") or {}).get("replicons")}:
            assert f"on a contig carrying {where}" in flat, where
        for chrome in ("Sign out", "Print report", "Delete", "Downloads", "All jobs", "Log"):
            assert chrome not in text, f"{chrome!r} is printed"


def open_printable_job(browser: Browser, name: str) -> str:
    """The job page of `name` once its results (and so its report) are on it; its job id."""
    browser.click_link(name)
    browser.wait_heading(name)
    browser.find("#print-report-button")
    (report,) = browser.all("#print-report")
    assert not report.is_displayed(), "on screen the report stays hidden: the page is the report"
    return browser.driver.current_url.rsplit("/", 1)[-1]


@needs_poppler
def test_a_batch_downloads_as_a_workbook_and_a_job_prints_as_a_report(
    browser: Browser, stack: Stack, tmp_path: Any
) -> None:
    token = signed_in(browser, stack)
    copies = []
    for name in ("isolate_a.fa.gz", "isolate_b.fa.gz"):
        copy = tmp_path / name
        copy.write_bytes(GENOME.read_bytes())
        copies.append(str(copy))
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys("\n".join(copies))
    browser.find('tr[data-sample="isolate_b"]')
    browser.choose("#species", "escherichia_coli")
    browser.click("#as-batch")
    browser.fill("#batch-name", "print run")
    browser.click("#submit-files")
    browser.wait_text("#submit-result", "submitted", 60)
    browser.click_link("Open the batch")
    browser.wait_heading("print run")
    browser.wait_text("#batch-status", "Finished", JOB_SECONDS)
    batch_id = browser.driver.current_url.rsplit("/", 1)[-1]

    # The workbook: every sheet, the samples in order, the calls the API's matrix has.
    browser.click("#download-xlsx")
    saved = browser.wait_download(".xlsx")
    assert saved.name == "print_run-results.xlsx"
    book = openpyxl.load_workbook(saved)
    assert book.sheetnames == SHEETS
    matrix = stack.http("GET", f"/batches/{batch_id}/matrix", token=token).body
    rows = list(book["Matrix"].iter_rows(values_only=True))
    assert list(rows[0]) == ["sample", "status", *matrix["antibiotics"]]
    for row, expected in zip(rows[1:], matrix["rows"], strict=True):
        assert row[0] == expected["sample"] and [c or "" for c in row[2:]] == list(expected["calls"].values())
    summary = list(book["Summary"].iter_rows(values_only=True))
    assert [r[0] for r in summary[1:]] == ["isolate_a", "isolate_b"]

    # The job page: a Print button, and on paper the report alone.
    job_id = open_printable_job(browser, "isolate_a")
    text = pdf_text_of(browser, tmp_path)
    assert "isolate_a" in text and "Escherichia coli" in text
    print_checked(browser, stack, token, job_id, "job-print", tmp_path)


def pdf_text_of(browser: Browser, tmp_path: Path) -> str:
    pdf = tmp_path / "probe.pdf"
    pdf.write_bytes(print_pdf(browser, PAPER["a4"]))
    return pdf_text(pdf)


@needs_poppler
@pytest.mark.skipif(not KLEBSIELLA.exists(), reason="needs Debian's kleborate-examples (make test installs it)")
def test_a_genome_resistant_to_forty_antibiotics_prints_on_one_page(
    browser: Browser, stack: Stack, tmp_path: Any
) -> None:
    token = signed_in(browser, stack)
    genome = tmp_path / "MGH78578.fna.gz"
    genome.write_bytes(gzip.compress(lzma.decompress(KLEBSIELLA.read_bytes()), compresslevel=1))
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys(str(genome))
    browser.find('tr[data-sample="MGH78578"]')
    browser.choose("#species", "klebsiella")
    browser.click("#submit-files")
    browser.wait_text('tr[data-sample="MGH78578"] .upload-cell', "uploaded", 60)
    browser.click_link("Follow them in the job list")
    browser.wait_heading("Jobs")
    browser.wait_text("tr[data-job-id]:first-child .badge", "Completed", JOB_SECONDS)
    job_id = open_printable_job(browser, "MGH78578")
    print_checked(browser, stack, token, job_id, "job-print-klebsiella", tmp_path)

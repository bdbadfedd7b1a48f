"""The job page's typing section (design §20) in headless Chromium against the local stack: a
complete K. pneumoniae genome (MGH 78578, Debian's kleborate-examples) gets its ST, its
replicons and the location of its genes; the section is photographed into
`build/screenshots/job-typing.png`."""

from __future__ import annotations

import lzma
from pathlib import Path

import pytest

from tests.browser.browser import SCREENSHOTS, Browser
from tests.browser.conftest import needs_chromium
from tests.browser.test_web_app import sign_in
from tests.e2e.localstack import ADMIN_PASSWORD, JOB_SECONDS, Stack

KLEBORATE_GENOME = Path("/usr/share/doc/kleborate/examples/data/MGH78578.fna.xz")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    needs_chromium,
    pytest.mark.skipif(not KLEBORATE_GENOME.is_file(), reason="needs Debian's kleborate-examples"),
]


def test_typing_section_shows_st_replicons_and_gene_locations(browser: Browser, stack: Stack, tmp_path: Path) -> None:
    genome = tmp_path / "MGH78578.fna"
    genome.write_bytes(lzma.decompress(KLEBORATE_GENOME.read_bytes()))
    sign_in(browser, "admin", ADMIN_PASSWORD)
    browser.go("#/submit")
    browser.wait_heading("Submit genomes")
    browser.find("#files").send_keys(str(genome))
    browser.choose("#species", "klebsiella")
    browser.click("#submit-files")
    browser.wait_text('tr[data-sample="MGH78578"] .upload-cell', "uploaded", 120)
    browser.click_link("Follow them in the job list")
    browser.wait_heading("Jobs")
    browser.wait_text("tr[data-job-id] .badge", "Completed", JOB_SECONDS * 4)
    browser.click_link("MGH78578")
    browser.wait_heading("MGH78578")
    section = browser.find("#typing")
    assert "ST38" in browser.text("#typing table.mlst")
    assert "gapA 2 · infB 1 · mdh 2 · pgi 1 · phoE 2 · rpoB 2 · tonB 2" in browser.text("#typing table.mlst")
    replicons = browser.texts("#typing table.plasmids tbody tr td:nth-child(1)")
    assert sorted(replicons) == ["Col440I", "IncFIB(K)", "IncFIB(pQil)", "IncFII(K)", "IncFII(K)", "IncR"]
    locations = browser.texts("#results table.genes tbody tr td:nth-child(9)")
    assert "chromosome-like" in locations and any(text.endswith(" contig") for text in locations)
    assert browser.text("#typing-summary").startswith("ST38 (Klebsiella pneumoniae species complex) with ")
    browser.screenshot("job-typing-page")  # the whole page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(str(SCREENSHOTS / "job-typing.png"))  # the typing section alone

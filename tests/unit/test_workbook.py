"""The batch workbook's sheets (chalicelib/batches/workbook.py) from results with and without
the species/QC (design §19) and typing (design §20) sections, read back with openpyxl."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import openpyxl
import pytest
from openpyxl.workbook.workbook import Workbook

from chalicelib.batches import matrix, workbook
from chalicelib.batches.workbook import NOT_RUN, BatchInfo, Sample

INFO = BatchInfo(
    batch_id="b-1",
    batch_name="run 7",
    created_at="2026-11-24T11:00:00.000Z",
    generated_at="2026-11-24T12:00:00.000Z",
    service_version="1.0.0+test",
    params={"species": "auto", "min_identity": 0.9},
    default_params={"min_identity": 0.9, "min_coverage": 0.6},
)

#: A result with every section the third wave adds, in the shapes the service writes.
TYPED: dict[str, Any] = {
    "job_id": "j-1",
    "database": {"name": "resfinder", "version": "sha256-63f814d573c5"},
    "point_database": {"name": "pointfinder", "version": "3.0.0"},
    "species": {
        "given": "auto",
        "detected": {"name": "Klebsiella pneumoniae", "match": "strong", "method": "mash", "distance": 0.01},
        "used": "klebsiella",
    },
    "qc": {
        "verdict": "WARN",
        "input": "assembly",
        "metrics": {"contig_count": 6, "total_size": 5694894, "n50": 5315120, "gc_percent": 57.15},
        "checks": [
            {"name": "total_size", "status": "PASS", "value": 5694894, "threshold": "4.5-6.5 Mb", "message": ""},
            {"name": "contig_count", "status": "WARN", "value": 600, "threshold": 500, "message": "600 contigs > 500"},
        ],
    },
    "genes": [
        {
            "gene": "blaKPC-2",
            "allele": "blaKPC-2_1_AY034847",
            "accession": "AY034847",
            "contig": "p1",
            "start": 10,
            "end": 891,
            "strand": "+",
            "identity": 100.0,
            "coverage": 100.0,
            "drug_class": "Beta-lactam",
            "phenotypes": ["Imipenem", "Meropenem"],
            "location": {"kind": "plasmid", "replicons": ["IncFII(K)"]},
        },
        {
            "gene": "blaSHV-11",
            "allele": "blaSHV-11_1_X98101",
            "accession": "X98101",
            "contig": "chr",
            "start": 5,
            "end": 865,
            "strand": "-",
            "identity": 99.9,
            "coverage": 100.0,
            "drug_class": "Beta-lactam",
            "phenotypes": ["Ampicillin"],
            "location": {"kind": "chromosome-like", "replicons": []},
        },
    ],  # fmt: skip
    "mutations": [
        {
            "gene": "gyrA",
            "mutation": "gyrA p.S83I",
            "nucleotide_change": "AGC -> ATC",
            "amino_acid_change": "S -> I",
            "type": "substitution",
            "position": 83,
            "contig": "chr",
            "contig_position": 100,
            "resistance": ["ciprofloxacin", "nalidixic acid"],
            "pmids": ["1"],
            "reference": "gyrA_1",
        },
    ],  # fmt: skip
    "mlst": [
        {
            "scheme": "klebsiella_pneumo_complex",
            "label": "K. pneumoniae",
            "st": "ST258",
            "clonal_complex": None,
            "alleles": {"gapA": "3", "infB": "3", "mdh": "1", "pgi": "1", "phoE": "1", "rpoB": "1", "tonB": "79*"},
            "loci": [],
            "selected_by": "species",
        },
    ],  # fmt: skip
    "plasmids": [
        {
            "name": "IncFII(K)",
            "reference": "IncFII(K)_1_CP000648",
            "accession": "CP000648",
            "database": "enterobacteriales",
            "contig": "p1",
            "start": 2000,
            "end": 2300,
            "strand": "+",
            "identity": 100.0,
            "coverage": 100.0,
        },
    ],  # fmt: skip
    "typing_database": {
        "mlst": {"source": "kleborate 3.2.4", "schemes": ["klebsiella_pneumo_complex"]},
        "plasmidfinder": {"source": "staramr 0.12.3", "version": "2.1", "commit": "c18e08c", "date": "2023"},
    },
}

#: The same sample as results written before the third wave: a species string, no QC, no typing.
OLD: dict[str, Any] = {
    "job_id": "j-2",
    "database": {"name": "resfinder", "version": "sha256-63f814d573c5"},
    "point_database": None,
    "species": "other",
    "genes": [],
    "mutations": [],
}

#: Typing ran on reads (it types nothing there): empty lists and no typing database.
UNTYPED: dict[str, Any] = {**OLD, "job_id": "j-3", "mlst": [], "plasmids": [], "typing_database": None}


def samples() -> list[Sample]:
    return [
        Sample("typed", "j-1", "Completed", predictions=TYPED, calls={"meropenem": "R", "colistin": "S"}),
        Sample("old", "j-2", "Completed", predictions=OLD, calls={"meropenem": "S", "colistin": "?"}),
        Sample("reads", "j-3", "Completed", predictions=UNTYPED, calls={"meropenem": "S", "colistin": "S"}),
        Sample("broken", "j-4", "Error", error="line 1 of broken.fa: not FASTA"),
        Sample("waiting", "j-5", "Submitted"),
    ]


def book_of(data: bytes) -> Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def rows_of(book: Workbook, title: str) -> list[dict[str, Any]]:
    values = list(book[title].iter_rows(values_only=True))
    return [dict(zip([str(h) for h in values[0]], row, strict=True)) for row in values[1:]]


@pytest.fixture(scope="module")
def book() -> Workbook:
    return book_of(workbook.build(INFO, ["colistin", "meropenem"], samples()))


def test_sheets_in_order_with_frozen_headers(book: Workbook) -> None:
    assert book.sheetnames == list(workbook.SHEETS)
    assert book["Matrix"].freeze_panes == "C2" and book["Summary"].freeze_panes == "B2"
    assert book.properties.title == "AMR predictions: run 7"


def test_summary_reads_species_qc_and_typing_or_says_not_run(book: Workbook) -> None:
    typed, old, reads, broken, waiting = rows_of(book, "Summary")
    assert typed["species"] == "Klebsiella pneumoniae" and typed["species match"] == "strong"
    assert typed["species given"] == "auto" and typed["QC"] == "WARN" and typed["ST"] == "ST258"
    assert typed["replicons"] == "IncFII(K)" and typed["resistant antibiotics"] == "meropenem"
    assert typed["genes"] == "blaKPC-2, blaSHV-11" and typed["mutations"] == "gyrA p.S83I"
    assert old["species"] == NOT_RUN and old["species given"] == "other" and old["QC"] == NOT_RUN
    assert old["ST"] == old["replicons"] == NOT_RUN and old["genes"] == old["mutations"] == "none"
    assert reads["ST"] == reads["replicons"] == NOT_RUN
    assert broken["status"] == "Error" and broken["note"] == "line 1 of broken.fa: not FASTA"
    assert broken["genes"] is None and broken["species"] is None
    assert waiting["status"] == "Submitted" and waiting["job id"] == "j-5"


def test_matrix_cells_are_coloured_by_call(book: Workbook) -> None:
    ws = book["Matrix"]
    assert [c.value for c in ws[1]] == ["sample", "status", "colistin", "meropenem"]
    cells = {(row[0].value, ws.cell(1, c.column).value): c for row in ws.iter_rows(min_row=2) for c in row[2:]}
    assert cells[("typed", "meropenem")].value == "R" and cells[("typed", "meropenem")].fill.fgColor.rgb.endswith(
        "FFC7CE"
    )
    assert cells[("typed", "colistin")].fill.fgColor.rgb.endswith("C6EFCE")
    assert cells[("old", "colistin")].value == "?" and cells[("old", "colistin")].fill.fgColor.rgb.endswith("FFEB9C")
    assert cells[("waiting", "colistin")].value is None


def test_genes_mutations_and_plasmids_carry_every_field(book: Workbook) -> None:
    genes = rows_of(book, "Genes")
    assert [(g["sample"], g["gene"], g["location"]) for g in genes] == [
        ("typed", "blaKPC-2", "IncFII(K) contig"),
        ("typed", "blaSHV-11", "chromosome-like"),
    ]
    assert genes[0]["phenotypes"] == "Imipenem, Meropenem" and genes[0]["identity %"] == 100
    assert genes[1]["start"] == 5 and genes[1]["strand"] == "-"
    (mutation,) = rows_of(book, "Mutations")
    assert mutation["mutation"] == "gyrA p.S83I" and mutation["resistance"] == "ciprofloxacin, nalidixic acid"
    assert mutation["PMIDs"] == "1" and mutation["position"] == 83
    (plasmid,) = rows_of(book, "Plasmids")
    assert plasmid["sample"] == "typed" and plasmid["name"] == "IncFII(K)" and plasmid["coverage %"] == 100
    assert plasmid["contig"] == "p1" and plasmid["start"] == 2000 and plasmid["reference"] == "IncFII(K)_1_CP000648"


def test_mlst_has_a_column_per_locus_and_says_not_run(book: Workbook) -> None:
    typed, old, reads = rows_of(book, "MLST")
    assert typed["ST"] == "ST258" and typed["scheme"] == "K. pneumoniae" and typed["tonB"] == "79*"
    assert typed["gapA"] == "3" and typed["clonal complex"] is None
    assert (old["scheme"], old["ST"]) == (NOT_RUN, NOT_RUN) and reads["ST"] == NOT_RUN


def test_qc_has_metrics_checks_and_reasons(book: Workbook) -> None:
    typed, old, reads = rows_of(book, "QC")
    assert typed["verdict"] == "WARN" and typed["n50"] == 5315120 and typed["gc percent"] == 57.15
    assert typed["total_size"] == "PASS" and typed["contig_count"] == "WARN"
    assert typed["reasons"] == "600 contigs > 500"
    assert old["verdict"] == NOT_RUN and old["n50"] is None


def test_settings_name_databases_parameters_version_and_time(book: Workbook) -> None:
    rows = {(r["section"], r["name"]): r for r in rows_of(book, "Settings")}
    assert rows[("service", "version")]["value"] == "1.0.0+test"
    assert rows[("service", "generated at")]["value"] == "2026-11-24T12:00:00.000Z"
    assert rows[("batch", "name")]["value"] == "run 7" and rows[("batch", "samples")]["value"] == 5
    assert rows[("batch", "finished samples")]["value"] == 3
    resfinder = rows[("database", "database")]
    assert (resfinder["value"], resfinder["version"], resfinder["samples"]) == ("resfinder", "sha256-63f814d573c5", 3)
    plasmidfinder = rows[("database", "typing_database.plasmidfinder")]
    assert (plasmidfinder["version"], plasmidfinder["commit"], plasmidfinder["samples"]) == ("2.1", "c18e08c", 1)
    assert rows[("database", "typing_database.mlst")]["version"] == "kleborate 3.2.4"
    assert rows[("database", "point_database")]["version"] == "3.0.0"
    assert rows[("parameter", "species")]["value"] == "auto"
    assert rows[("parameter", "min_coverage")]["value"] == 0.6  # a default the batch did not name


def test_cells_are_never_formulas_and_hold_only_what_xml_can() -> None:
    evil = Sample("=1+1", "j-9", "Error", error="@SUM(A1)\x07 bell")
    data = workbook.build(INFO, [], [evil])
    book = book_of(data)
    (row,) = rows_of(book, "Summary")
    assert row["sample"] == "=1+1" and row["note"] == "@SUM(A1)  bell"
    assert book["Summary"]["A2"].data_type == "s"
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == len(workbook.SHEETS)
        assert not any(b"<f>" in package.read(n) or b"<f " in package.read(n) for n in sheets)  # no formula


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        (True, "yes"),
        (3, 3),
        (99.5, 99.5),
        (["a", 1], "a, 1"),
        ([{"a": 1}], '[{"a": 1}]'),
        ({"kind": "x"}, '{"kind": "x"}'),
        ("tab\tok\x00", "tab\tok "),
    ],
)
def test_cell_values(value: Any, shown: Any) -> None:
    assert workbook.cell_value(value) == shown


def test_text_too_long_for_a_cell_is_cut_and_says_so() -> None:
    shown = workbook.cell_value("x" * 40_000)
    assert isinstance(shown, str) and len(shown) == workbook.MAX_CELL_CHARS and shown.endswith("too long for one cell)")


def test_a_sample_that_failed_qc_has_question_marks_not_s() -> None:
    """design §19: an absence in a sample that failed QC is not evidence (the matrix's rule)."""

    class Job:
        status = "Completed"
        summary = None

    predictions = {
        "phenotypes": [
            {"antimicrobial": "meropenem", "phenotype": "Resistant"},
            {"antimicrobial": "colistin", "phenotype": "No resistance"},
        ],
        "qc": {"verdict": "FAIL", "checks": []},
    }
    calls = matrix._calls(Job(), predictions)  # type: ignore[arg-type]
    assert calls == {"meropenem": "R", "colistin": "?"}
    predictions["qc"] = {"verdict": "WARN", "checks": []}
    assert matrix._calls(Job(), predictions)["colistin"] == "S"  # type: ignore[arg-type]

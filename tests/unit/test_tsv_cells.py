"""Per-job TSVs escape cells as the batch matrix does (design §23): a contig id or file name
beginning with = + - @ opens as text, not as a formula."""

from __future__ import annotations

import pytest

from chalicelib.core import tsv
from chalicelib.prediction import render as results
from chalicelib.prediction.acquired import predict
from tests.unit.test_acquired import KPC, SMALL, insert, random_dna, seq_of

HOSTILE = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(
    "value,shown",
    [
        ("=1+1", "'=1+1"),
        ("+x", "'+x"),
        ("-3", "-3"),
        ("-", "-"),
        ("+", "+"),
        ("-1+cmd", "'-1+cmd"),
        ("@a", "'@a"),
        ("a\tb\nc", "a b c"),
        (None, ""),
        ("blaKPC-2", "blaKPC-2"),
    ],
)
def test_cell(value: object, shown: str) -> None:
    assert tsv.cell(value) == shown


def test_job_tsvs_escape_contig_ids_and_file_names(db) -> None:  # type: ignore[no-untyped-def]
    genome = insert(random_dna(5_000, 7), 1_000, seq_of(db, KPC))
    prediction = predict([(HOSTILE, genome)], SMALL)
    assert prediction.genes, "the KPC insert is found"
    files = results.render_all(prediction, "job-1", "@evil.fa")
    for name in ("predictions.tsv", "hamronization.tsv"):
        cells = [c for line in files[name].splitlines()[1:] for c in line.split("\t")]
        assert not [c for c in cells if c[:1] in tsv.FORMULA_STARTS and c not in ("+", "-")], name
        assert "'" + HOSTILE in cells or "'@evil.fa" in cells

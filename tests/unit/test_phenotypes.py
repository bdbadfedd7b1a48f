"""The phenotype table (chalicelib/prediction/phenotypes.py) on the real ResFinder database."""
from __future__ import annotations

import pytest

from chalicelib.prediction import results
from tests.unit.test_acquired import DB_PRESENT

pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")


def test_alleles_tied_at_a_locus_all_count_in_the_phenotype_table() -> None:
    """ResFinder reports every allele tied at a locus (e.g. blaSHV-40/-56/-79 in MGH78578)
    and its table counts the phenotypes of each."""
    from chalicelib.prediction import phenotypes
    from chalicelib.prediction.resfinder_db import load_db

    db = load_db()
    winner, twin = db.alleles["blaSHV-40_1_AF535128"], db.alleles["blaSHV-56_1_EU586041"]
    only_twin = set(db.allele_antibiotics[twin.name]) - set(db.allele_antibiotics[winner.name])
    assert only_twin  # e.g. amoxicillin+clavulanic acid
    hit = results.GeneHit(winner.gene, winner.name, winner.accession, "c", 1, winner.length, "+", 99.88, 100.0,
                           winner.drug_class, winner.phenotypes, winner.length, 1, winner.length, winner.length,
                           tied=(twin.name,))
    table = phenotypes.build(db, [hit])
    for antibiotic in only_twin:
        row = next(r for r in table.rows if r.antimicrobial == antibiotic)
        assert row.resistant and row.genes == ("blaSHV-56 (blaSHV-56_EU586041)",) and row.match == 2
    alone = phenotypes.build(db, [results.GeneHit(**{**hit.__dict__, "tied": ()})])
    assert not set(alone.resistant) & only_twin

"""The ResFinder database loader (chalicelib/prediction/resfinder_db.py) on Debian's resfinder-db."""
from __future__ import annotations

from chalicelib.prediction.resfinder_db import db_dir, load_db, parse_allele_name
from tests.unit.test_acquired import KPC, needs_db


def test_parse_allele_name_accessions_with_underscores() -> None:
    assert parse_allele_name("blaKPC-2_1_AY034847") == ("blaKPC-2", "1", "AY034847")
    assert parse_allele_name("blaOXA-307_1_NG_050611") == ("blaOXA-307", "1", "NG_050611")
    assert parse_allele_name("aac(6')-Iaa_1_NC_003197") == ("aac(6')-Iaa", "1", "NC_003197")
    assert parse_allele_name("blaKPC-40_1_NG_064726:101-988") == ("blaKPC-40", "1", "NG_064726:101-988")
    assert parse_allele_name("weird") == ("weird", "", "")


@needs_db
def test_db_loads_alleles_classes_phenotypes_and_version(db) -> None:  # type: ignore[no-untyped-def]
    kpc = db.alleles[KPC]
    assert (kpc.gene, kpc.accession, kpc.drug_class) == ("blaKPC-2", "AY034847", "Beta-lactam")
    assert "Meropenem" in kpc.phenotypes and kpc.db_classes == ("beta-lactam",)
    # Listed in two class files, loaded once with both classes.
    assert set(db.alleles["OqxA_1_EU370913"].db_classes) >= {"quinolone"}
    assert len(db.alleles) > 3000
    assert db.version and load_db() is db
    assert db_dir()

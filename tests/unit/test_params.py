"""Prediction parameters (chalicelib/jobs/params.py): validation and the species a user may write."""
from __future__ import annotations

import pytest

from chalicelib.jobs.params import PredictParams, normalise_species


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="segment_overlap must be < segment_length"):
        PredictParams(segment_length=100, segment_overlap=100)
    with pytest.raises(ValueError, match="min_identity"):
        PredictParams(min_identity=1.5)
    with pytest.raises(ValueError, match="batch_size"):
        PredictParams(batch_size=0)
    with pytest.raises(ValueError, match="unknown parameter"):
        PredictParams.from_dict({"segment_lenght": 10})
    assert PredictParams.from_dict({"min_coverage": 0.5}).min_coverage == 0.5


@pytest.mark.parametrize(
    "given, key",
    [("escherichia_coli", "escherichia_coli"), ("Escherichia coli", "escherichia_coli"),
     ("ESCHERICHIA COLI", "escherichia_coli"), ("E. coli", "escherichia_coli"),
     ("Klebsiella pneumoniae", "klebsiella"), ("Mycobacterium tuberculosis", "mycobacterium_tuberculosis"),
     ("other", "other"), ("Other", "other")],
)
def test_species_spellings_map_to_pointfinder_keys(given: str, key: str) -> None:
    assert normalise_species(given) == key
    assert PredictParams(species=given).species == key


def test_species_rules() -> None:
    with pytest.raises(ValueError, match="escherichia_coli, klebsiella"):
        normalise_species("Escherichia martiana")
    with pytest.raises(ValueError, match="needs a species"):
        PredictParams(point_mutations=True)
    assert PredictParams(species="klebsiella").point_mutations is True
    assert PredictParams(species="klebsiella", point_mutations=False).point_mutations is False
    assert PredictParams().point_mutations is False
    assert set(PredictParams(species="salmonella").to_dict()) >= {"species", "point_mutations"}

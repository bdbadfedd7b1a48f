"""A genome job reports MLST, replicons and where each gene sits (design §20), end to end through
the upload event, on a small genome made of real scheme alleles, a real replicon and blaKPC-2."""

from __future__ import annotations

import json
import random

import pytest

from chalicelib.batches import matrix
from chalicelib.prediction import typing_db
from chalicelib.prediction.resfinder_db import load_db
from tests.integration.test_intake import api_job, fasta, result_objects, upload
from tests.unit.test_acquired import KPC


def _dna(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(n))


@pytest.fixture(scope="module")
def genome() -> bytes:
    """ST258's seven alleles 2 kb apart on a 'chromosome'; blaKPC-2 and IncFII(K) on a 'plasmid'."""
    db = typing_db.load_db()
    scheme = db.schemes["klebsiella_pneumo_complex"]
    profile = next(p for p in scheme.profiles if p.st == 258)
    rng = random.Random(258)
    chromosome = _dna(rng, 2000)
    for locus, number in zip(scheme.loci, profile.alleles, strict=True):
        chromosome += scheme.alleles[locus][f"{locus}_{number}"] + _dna(rng, 2000)
    replicon = db.replicons["IncFII(K)_1__CP000648"].sequence
    plasmid = _dna(rng, 1500) + replicon + _dna(rng, 1500) + load_db().alleles[KPC].sequence + _dna(rng, 1500)
    return fasta({"chr1": chromosome, "pKPC": plasmid})


def test_job_reports_st_replicons_and_gene_location(aws_env: None, genome: bytes) -> None:
    job = api_job("st258.fa", params={"species": "klebsiella"})
    upload(job, genome)
    files = result_objects(job)
    doc = json.loads(files["predictions.json"]["body"])
    (call,) = doc["mlst"]
    assert call["scheme"] == "klebsiella_pneumo_complex" and call["st"] == "ST258"
    assert call["alleles"] == {"gapA": "3", "infB": "3", "mdh": "1", "pgi": "1", "phoE": "1", "rpoB": "1", "tonB": "79"}
    assert call["selected_by"] == "best match"  # "klebsiella" names two complexes
    (rep,) = doc["plasmids"]
    assert (rep["name"], rep["contig"], rep["start"], rep["identity"], rep["coverage"]) == (
        "IncFII(K)",
        "pKPC",
        1501,
        100.0,
        100.0,
    )
    kpc = next(g for g in doc["genes"] if g["gene"] == "blaKPC-2")
    assert kpc["location"] == {"kind": "plasmid", "replicons": ["IncFII(K)"]}
    assert doc["typing_database"]["plasmidfinder"]["commit"]
    assert files["mlst.tsv"]["body"].splitlines()[1].startswith("klebsiella_pneumo_complex\tST258\t")
    assert "\tIncFII(K)\t100.00\t100.00\t" in files["plasmids.tsv"]["body"]
    row = matrix._row(job, doc)  # what the batch matrix shows of this sample
    assert (row["st"], row["replicons"]) == ("ST258", ["IncFII(K)"])
    tsv_row = matrix.to_tsv({"antibiotics": [], "rows": [{**row, "calls": {}}]}).splitlines()[1].split("\t")
    assert tsv_row[2:4] == ["ST258", "IncFII(K)"]


def test_typed_results_match_the_openapi_models(aws_env: None, genome: bytes) -> None:
    from chalicelib.jobs.schemas import ResultsResponse

    job = api_job("st258.fa", params={"species": "Klebsiella pneumoniae"})
    upload(job, genome)
    doc = json.loads(result_objects(job)["predictions.json"]["body"])
    typed = ResultsResponse.model_validate({**doc, "download_urls": {}})
    # the job's species is a PointFinder key ("klebsiella": both Klebsiella complexes), so the
    # complex is the best match; a detected species name (design §19) will choose it outright
    assert typed.mlst[0].st == "ST258" and typed.mlst[0].selected_by == "best match"
    assert typed.plasmids[0].name == "IncFII(K)"
    assert any(g.location and g.location.kind == "plasmid" for g in typed.genes)

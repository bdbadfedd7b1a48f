"""The result files (chalicelib/prediction/render.py): predictions.json, the ResFinder and
hAMRonization tables and the job summary, from a prediction of a synthetic genome."""
from __future__ import annotations

import csv
import io
import json

from chalicelib.prediction import render
from chalicelib.prediction.acquired import predict
from tests.unit.test_acquired import KPC, SMALL, insert, needs_db, random_dna, seq_of


@needs_db
def test_result_files_shape(db) -> None:  # type: ignore[no-untyped-def]
    genome = {"chr": insert(random_dna(9000, 40), 4600, seq_of(db, KPC))}
    pred = predict(list(genome.items()), SMALL)
    doc = json.loads(render.predictions_json(pred, "job-1"))
    assert list(doc) == ["job_id", "database", "point_database", "species", "genes", "mutations", "resistance",
                         "resistant", "phenotypes", "phenotype_panel", "mlst", "plasmids", "typing_database",
                         "stats"]
    assert doc["database"] == {"name": "resfinder", "version": db.version}
    assert list(doc["genes"][0]) == [
        "gene", "allele", "accession", "contig", "start", "end", "strand",
        "identity", "coverage", "drug_class", "phenotypes", "location",
    ]
    assert doc["genes"][0]["location"] == {"kind": "chromosome-like", "replicons": []}
    assert doc["genes"][0]["allele"] == KPC and doc["genes"][0]["start"] == 4601
    assert list(doc["stats"]) == ["contigs", "bases", "segments", "seconds"]

    rows = list(csv.reader(io.StringIO(render.predictions_tsv(pred)), delimiter="\t"))
    assert rows[0] == list(render.RESFINDER_TSV_COLUMNS)
    assert rows[1][:7] == ["blaKPC-2", "100.00", "882/882", "100.00", "1..882", "chr", "4601..5482"]

    ham = list(csv.DictReader(io.StringIO(render.hamronization_tsv(pred, "g.fa")), delimiter="\t"))
    assert ham[0]["gene_symbol"] == "blaKPC-2" and ham[0]["input_gene_start"] == "4601"
    assert ham[0]["strand_orientation"] == "+" and ham[0]["reference_accession"] == "AY034847"
    assert ham[0]["genetic_variation_type"] == "gene_presence_detected"

    s = render.summary(pred)
    assert s["genes"] == 1 and s["gene_names"] == ["blaKPC-2"] and s["drug_classes"] == 1
    assert not any(isinstance(v, float) for v in s.values())
    assert set(render.render_all(pred, "job-1", "g.fa")) == {
        "predictions.json", "predictions.tsv", "hamronization.tsv", "pointfinder.tsv", "phenotypes.tsv",
        "mlst.tsv", "plasmids.tsv"}
    kpc_rows = [r for r in doc["phenotypes"] if "blaKPC-2 (blaKPC-2_AY034847)" in r["genes"]]
    assert kpc_rows and all(r["phenotype"] == "Resistant" and r["match"] == 3 for r in kpc_rows)
    assert {"imipenem", "meropenem"} <= set(doc["resistant"]) == set(s["resistant"])

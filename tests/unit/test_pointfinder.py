"""Point mutations and the phenotype table (design §12), on the real PointFinder and ResFinder
databases (Debian's resfinder-example and resfinder-db, installed by `make test`).

Synthetic genomes put a database gene, changed at a chosen codon or base, between random
flanks; expected names and resistances come from the database's own rows and from what
ResFinder 4.3 reports for the same change (`gyrA p.S83A`, `Nalidixic Acid, Ciprofloxacin`,
PMID 12654733 on test_isolate_05, checked by running ResFinder once).
"""
from __future__ import annotations

import gzip
import random
from pathlib import Path

import mappy
import pytest

from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import acquired, pointfinder, pointfinder_db, render, results
from chalicelib.prediction.pointfinder import revcomp, translate

EXAMPLES = Path("/usr/share/doc/resfinder/examples/data")
POINT_DB = Path(pointfinder_db.db_dir(), "config").is_file()
pytestmark = pytest.mark.skipif(not POINT_DB, reason="resfinder-example is not installed (make test installs it)")


def species(key: str) -> pointfinder_db.SpeciesDB:
    return pointfinder_db.load_db().load(key)


def gene(key: str, name: str) -> str:
    return next(g.sequence for g in species(key).genes if g.gene == name)


def flank(n: int, seed: int) -> str:
    return "".join(random.Random(seed).choices("ACGT", k=n))


def set_codon(seq: str, codon_no: int, codon: str, offset: int = 0) -> str:
    i = offset + 3 * (codon_no - 1)
    return seq[:i] + codon + seq[i + 3 :]


def set_base(seq: str, index: int, base: str) -> str:
    return seq[:index] + base + seq[index + 1 :]


def predict(*contigs: str, key: str = "escherichia_coli", **params: object) -> results.Prediction:
    return acquired.predict(
        [(f"contig{i + 1}", s) for i, s in enumerate(contigs)], PredictParams(species=key, **params)  # type: ignore[arg-type]
    )


def names(pred: results.Prediction) -> list[str]:
    assert pred.point is not None
    return [m.name for m in pred.point.mutations]


def row(pred: results.Prediction, antibiotic: str) -> dict:
    return next(r.to_dict() for r in pred.phenotypes.rows if r.antimicrobial == antibiotic)  # type: ignore[union-attr]


# --- real isolate ------------------------------------------------------------------------


def test_isolate_05_has_resfinders_gyra_mutation_and_quinolone_resistance() -> None:
    with gzip.open(EXAMPLES / "test_isolate_05.fa.gz", "rb") as fh:
        pred = acquired.predict_stream(fh, name="test_isolate_05.fa.gz", params=PredictParams(species="Escherichia coli"))
    assert names(pred) == ["gyrA p.S83A"]
    call = pred.point.mutations[0]  # type: ignore[union-attr]
    assert (call.nucleotide_change, call.amino_acid_change) == ("TCG -> GCG", "S -> A")
    assert ", ".join(call.resistance).title() == "Nalidixic Acid, Ciprofloxacin" and call.pmids == ("12654733",)
    assert pred.resistant == ["ciprofloxacin", "nalidixic acid"]
    assert row(pred, "ciprofloxacin") == {
        "antimicrobial": "ciprofloxacin", "class": "quinolone", "phenotype": "Resistant", "match": 3,
        "genetic_background": "gyrA (p.S83A)", "genes": [], "mutations": ["gyrA (p.S83A)"],
    }
    tsv = render.pointfinder_tsv(pred).splitlines()
    assert tsv == ["Mutation\tNucleotide change\tAmino acid change\tResistance\tPMID",
                   "gyrA p.S83A\tTCG -> GCG\tS -> A\tNalidixic Acid, Ciprofloxacin\t12654733"]


# --- synthetic genomes -------------------------------------------------------------------


def test_codon_change_on_either_strand_is_named_in_the_genes_frame() -> None:
    mutant = set_codon(gene("escherichia_coli", "gyrA"), 83, "TTG")
    forward = predict(flank(3000, 1) + mutant + flank(3000, 2))
    reverse = predict(flank(3000, 1) + revcomp(mutant) + flank(3000, 2))
    assert names(forward) == names(reverse) == ["gyrA p.S83L"]
    fwd, rev = forward.point.mutations[0].mutation, reverse.point.mutations[0].mutation  # type: ignore[union-attr]
    assert fwd.contig_position == 3000 + 3 * 82 + 1  # first base of codon 83 on the contig
    assert rev.contig_position == 3000 + len(mutant) - 3 * 82  # the same base, counted on the other strand
    assert {"ciprofloxacin", "nalidixic acid"} <= set(forward.resistant)


def test_first_and_last_codons_are_read() -> None:
    seq = gene("escherichia_coli", "gyrA")
    last = len(seq) // 3
    ref_last = translate(seq[3 * (last - 1) : 3 * last])
    alt_last = "GCT" if ref_last != "A" else "GGT"
    mutant = set_codon(set_codon(seq, 1, "CTG"), last, alt_last)  # M1L and a change of the last codon
    alignments = []
    search = pointfinder.PointSearch(species("escherichia_coli"))
    genome = flank(2000, 3) + mutant + flank(2000, 4)
    search.scan(genome, 0, 0, len(genome), mappy.ThreadBuffer())
    for cidx, lo, window in search.windows():
        alignments += search._align(window, lo, "c1")
    gyra = [a for a in alignments if a.gene.gene == "gyrA"]
    found = [m.name for a in gyra for m in pointfinder.differences(a)]
    assert "p.M1L" in found
    assert f"p.{ref_last}{last}{translate(alt_last)}" in found


def test_gene_split_by_a_segment_boundary_is_read_once() -> None:
    mutant = set_codon(gene("escherichia_coli", "gyrA"), 83, "TTG")
    genome = flank(2900, 5) + mutant + flank(3000, 6)  # codon 83 sits right at the 3,000-base boundary
    pred = predict(genome, segment_length=3000, segment_overlap=0)
    assert names(pred) == ["gyrA p.S83L"]


def test_promoter_change_is_numbered_upstream_of_the_gene() -> None:
    ampc = gene("escherichia_coli", "ampC-promoter-size-53bp")
    mutant = set_base(ampc, 53 - 42, "T")  # n.-42C>T, listed for beta-lactams
    pred = predict(flank(3000, 7) + mutant + flank(3000, 8))
    assert names(pred) == ["ampC-promoter-size-53bp n.-42C>T"]  # ResFinder names promoters so
    call = pred.point.mutations[0]  # type: ignore[union-attr]
    assert call.amino_acid_change == "Promoter mutations" and call.nucleotide_change == "C -> T"
    assert {"ampicillin", "cefoxitin"} <= set(pred.resistant)


def test_promoter_insertion_listed_by_the_database_is_found() -> None:
    ampc = gene("escherichia_coli", "ampC-promoter-size-53bp")
    i = 53 - 14  # after position -14: the GT insertion of the database
    mutant = ampc[: i + 1] + "GT" + ampc[i + 1 :]
    pred = predict(flank(3000, 9) + mutant + flank(3000, 10))
    assert pred.point is not None and len(pred.point.mutations) == 1
    call = pred.point.mutations[0]
    assert call.mutation.kind == "ins" and call.name in (
        "ampC-promoter-size-53bp n.-14_-13insGT", "ampC-promoter-size-53bp n.-15_-14insTG",
        "ampC-promoter-size-53bp n.-16_-15insGT", "ampC-promoter-size-53bp n.-13_-12insGT",
    )  # the aligner may place an insertion in a GT repeat at any of its listed positions
    assert "ampicillin" in pred.resistant


def test_rrna_change_is_read_base_by_base() -> None:
    rrl = gene("escherichia_coli", "23S")
    assert rrl[2057] == "A"
    pred = predict(flank(3000, 11) + set_base(rrl, 2057, "G") + flank(3000, 12))
    assert names(pred) == ["23S r.2058A>G"]
    assert pred.point.mutations[0].amino_acid_change == "RNA mutations"  # type: ignore[union-attr]
    assert "azithromycin" in pred.resistant or "erythromycin" in pred.resistant


def test_gene_below_pointfinders_identity_threshold_gives_no_mutations() -> None:
    seq = gene("escherichia_coli", "gyrA")
    rng = random.Random(13)
    diverged = "".join(rng.choice([b for b in "ACGT" if b != c]) if i % 4 == 1 else c for i, c in enumerate(seq))
    mutant = set_codon(diverged, 83, "TTG")  # 75 % identity: ResFinder would not call the gene
    pred = predict(flank(3000, 14) + mutant + flank(3000, 15))
    assert names(pred) == []
    assert all(not g.called for g in pred.point.genes if g.gene == "gyrA")  # type: ignore[union-attr]
    assert "ciprofloxacin" not in pred.resistant


def test_premature_stop_in_a_gene_whose_database_lists_stops() -> None:
    katg = gene("mycobacterium_tuberculosis", "katG-promoter-size-107bp")
    mutant = set_codon(katg, 100, "TAA", offset=107)  # a stop at katG codon 100
    pred = predict(flank(3000, 16) + mutant + flank(3000, 17), key="mycobacterium_tuberculosis")
    assert any(n.startswith("katG") and n.endswith("100* - Premature stop codon") for n in names(pred))
    assert "isoniazid" in pred.resistant


def test_mutation_that_requires_another_confers_resistance_only_with_it() -> None:
    pmra = gene("escherichia_coli", "pmrA")
    s39i = set_codon(pmra, 39, "ATC")
    both = set_codon(s39i, 81, "AGC")
    alone = predict(flank(3000, 18) + s39i + flank(3000, 19))
    together = predict(flank(3000, 18) + both + flank(3000, 19))
    assert names(alone) == ["pmrA p.S39I"]  # listed (a known change) ...
    assert row(alone, "colistin")["phenotype"] == "No resistance"  # ... but colistin needs R81S too
    assert names(together) == ["pmrA p.S39I", "pmrA p.R81S"]
    assert row(together, "colistin")["phenotype"] == "Resistant"
    assert row(together, "colistin")["mutations"] == ["pmrA (p.S39I)", "pmrA (p.R81S)"]


def test_species_panel_view_only_where_the_database_has_one() -> None:
    genome = flank(5000, 20)
    ecoli = render.predictions_dict(predict(genome), "j")
    kleb = render.predictions_dict(predict(genome, key="klebsiella"), "j")
    assert ecoli["phenotype_panel"]["name"] == "escherichia coli"
    assert [r["antimicrobial"] for r in ecoli["phenotype_panel"]["phenotypes"]][:3] == ["amikacin", "ampicillin", "ampicillin+clavulanic acid"]
    assert kleb["phenotype_panel"] is None and kleb["species"] == "klebsiella"
    assert kleb["point_database"] == {"name": "pointfinder", "version": pointfinder_db.load_db().version}


def test_no_species_means_no_point_search_but_a_phenotype_table() -> None:
    pred = acquired.predict([("c1", flank(5000, 21))])
    assert pred.point is None and pred.species == "other"
    doc = render.predictions_dict(pred, "j")
    assert doc["mutations"] == [] and doc["point_database"] is None
    assert len(doc["phenotypes"]) > 50 and all(r["phenotype"] == "No resistance" for r in doc["phenotypes"])
    assert render.pointfinder_tsv(pred).splitlines() == ["Mutation\tNucleotide change\tAmino acid change\tResistance\tPMID"]

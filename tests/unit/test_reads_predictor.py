"""The reads predictor (chalicelib/prediction/reads/predictor.py, design §12): genes with
depth and point mutations from pileups.

Synthetic pairs come from known sequences at a chosen depth and error rate (the seeded
simulator in bench/readsim.py); the example read pairs of Debian's resfinder-example are
checked against what ResFinder 4.3 + KMA reports on them.
"""
from __future__ import annotations

import gzip
import io
import os
import random
from pathlib import Path
from typing import Any

import pytest

from bench.readsim import simulate_pairs
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import pointfinder_db
from chalicelib.prediction.reads import predictor as reads
from chalicelib.prediction.resfinder_db import DEFAULT_DB_DIR, load_db
from chalicelib.prediction.results import BatchProgress, Cancelled
from tests.unit.test_acquired import KPC, insert, random_dna

DB_PRESENT = Path(os.environ.get("AMR_RESFINDER_DB") or DEFAULT_DB_DIR, "config").is_file()
EXAMPLES = Path(os.environ.get("AMR_RESFINDER_EXAMPLES") or "/usr/share/doc/resfinder/examples/data")
pytestmark = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")

AAC = "aac(3)-IIa_1_X51534"  # 861 bp, aminoglycoside


def fragments(pairs: Any) -> list[tuple[str, str]]:
    return [(r1, r2) for _, r1, r2 in pairs]


def gyra_s83l(gene: str) -> str:
    """gyrA with codon 83 TCG (Ser) -> TTG (Leu), the classic quinolone mutation."""
    i = 82 * 3
    assert gene[i : i + 3] == "TCG"
    return gene[:i] + "TTG" + gene[i + 3 :]


@pytest.fixture(scope="module")
def synthetic() -> list[tuple[str, str]]:
    """KPC at 30x on a 'chromosome', aac(3)-IIa at 3x on a 'plasmid', gyrA S83L in half the
    cells (25x wild type + 25x mutant), 0.5 % substitution errors."""
    db = load_db()
    species = pointfinder_db.load_db().load("escherichia_coli")
    gyra = next(g.sequence for g in species.genes if g.template.startswith("gyrA"))
    chromosome = insert(random_dna(20_000, 101), 8_000, db.alleles[KPC].sequence)
    plasmid = insert(random_dna(4_000, 102), 1_500, db.alleles[AAC].sequence)
    flank = random_dna(400, 103)
    wild, mutant = flank + gyra + flank[::-1], flank + gyra_s83l(gyra) + flank[::-1]
    out = fragments(simulate_pairs([("chr", chromosome)], depth=30, length=150, error_rate=0.005, seed=1))
    out += fragments(simulate_pairs([("pl", plasmid)], depth=3, length=150, error_rate=0.005, seed=2))
    out += fragments(simulate_pairs([("wt", wild)], depth=25, length=150, error_rate=0.005, seed=3))
    out += fragments(simulate_pairs([("mut", mutant)], depth=25, length=150, error_rate=0.005, seed=4))
    return out


def test_synthetic_pairs_genes_depths_and_a_mutation_at_half_the_reads(synthetic: list[tuple[str, str]]) -> None:
    pred = reads.predict_reads(synthetic, PredictParams(species="escherichia_coli"))

    genes = {g.allele: g for g in pred.genes}
    assert set(genes) == {KPC, AAC}
    kpc, aac = genes[KPC], genes[AAC]
    assert (kpc.identity, kpc.coverage, kpc.contig, kpc.start, kpc.end) == (100.0, 100.0, KPC, 1, 882)
    assert 24 <= kpc.depth <= 36
    assert 1.5 <= aac.depth <= 5 and aac.coverage >= 60
    assert kpc.to_dict()["depth"] == kpc.depth
    (mutation,) = [m for m in pred.point.mutations if m.gene == "gyrA"]
    assert mutation.name == "gyrA p.S83L" and mutation.nucleotide_change == "TCG -> TTG"
    assert mutation.contig.startswith("gyrA_") and mutation.mutation.contig_position == 247
    assert 35 <= mutation.depth <= 65
    assert {"ciprofloxacin", "nalidixic acid", "gentamicin", "imipenem"} <= set(pred.resistant)
    assert pred.reads == 2 * len(synthetic) and pred.stats()["input"] == "reads"


def test_min_depth_and_min_allele_fraction_decide(synthetic: list[tuple[str, str]]) -> None:
    strict = reads.predict_reads(
        synthetic, PredictParams(species="escherichia_coli", min_depth=5, min_allele_fraction=0.7)
    )
    assert {g.allele for g in strict.genes} == {KPC}
    assert [m.name for m in strict.point.mutations if m.gene == "gyrA"] == []
    assert "ciprofloxacin" not in strict.resistant


def test_identity_is_the_consensus_against_the_whole_allele() -> None:
    """KMA's Template_Identity: identical consensus bases over the allele's length, so a
    diverged copy and a half copy both fall below 90 %. (A gene with a single allele in
    the database, so no sibling allele takes part of the reads.)"""
    db = load_db()
    per_gene: dict[str, list[str]] = {}
    for name, a in db.alleles.items():
        per_gene.setdefault(a.gene, []).append(name)
    allele = next(db.alleles[names[0]] for gene, names in sorted(per_gene.items())
                  if len(names) == 1 and 800 <= db.alleles[names[0]].length <= 1200)
    n = len(allele.sequence)
    changed = set(random.Random(8).sample(range(n), n * 7 // 100))  # 7 % of the bases differ
    diverged = "".join(("A" if b != "A" else "C") if i in changed else b for i, b in enumerate(allele.sequence))
    genome = insert(random_dna(6_000, 7), 2_000, diverged)
    pairs = fragments(simulate_pairs([("g", genome)], depth=30, error_rate=0.0, seed=5))
    (gene,) = reads.predict_reads(pairs, PredictParams()).genes
    assert gene.allele == allele.name and gene.identity == pytest.approx(100 - 100 * len(changed) / n, abs=0.5)
    assert reads.predict_reads(pairs, PredictParams(min_identity=0.95)).genes == []
    half = insert(random_dna(6_000, 7), 2_000, allele.sequence[: n // 2])
    pairs = fragments(simulate_pairs([("g", half)], depth=30, error_rate=0.0, seed=5))
    assert reads.predict_reads(pairs, PredictParams(min_coverage=0.3)).genes == []  # ~50 % identity


def test_single_end_reads_and_progress_fractions() -> None:
    genome = insert(random_dna(10_000, 11), 3_000, load_db().alleles[KPC].sequence)
    text = "".join(f"@r{i}\n{r1}\n+\n{'I' * len(r1)}\n" for i, (r1, _) in
                   enumerate(fragments(simulate_pairs([("g", genome)], depth=40, seed=6))))
    blob = gzip.compress(text.encode())
    seen: list[BatchProgress] = []
    old = reads.READS_PER_BATCH
    reads.READS_PER_BATCH = 300
    try:
        pred = reads.predict_streams([io.BytesIO(blob)], ["s.fq.gz"], len(blob), on_batch=seen.append)
    finally:
        reads.READS_PER_BATCH = old
    assert [g.gene for g in pred.genes] == ["blaKPC-2"] and 15 <= pred.genes[0].depth <= 25
    fractions = [p.fraction for p in seen]
    assert len(seen) >= 3 and fractions == sorted(fractions) and fractions[-1] == 1.0 and seen[-1].finished
    assert seen[-1].bytes_read == len(blob) and seen[-1].reads == pred.reads


def test_cancel_stops_after_the_batch() -> None:
    genome = random_dna(20_000, 12)
    pairs = fragments(simulate_pairs([("g", genome)], depth=20, seed=7))
    old = reads.READS_PER_BATCH
    reads.READS_PER_BATCH = 200
    try:
        with pytest.raises(Cancelled) as err:
            reads.predict_reads(pairs, PredictParams(), on_batch=lambda p: p.batch < 2)
    finally:
        reads.READS_PER_BATCH = old
    assert err.value.progress.batch == 2 and err.value.progress.reads == 400


# ResFinder 4.3 with KMA (`run_resfinder.py -ifq R1 R2 -acq -c -s "escherichia coli"`) on
# Debian's example pairs: its ResFinder_results_tab.txt genes and PointFinder_results.txt.
RESFINDER_READS = {
    "test_isolate_01": (["blaB-2"], []),
    "test_isolate_05": ([], ["gyrA p.S83A"]),
    "test_isolate_09a": ([], ["gyrA p.G81D"]),
    "test_isolate_09b": ([], ["gyrA p.G81D", "gyrA p.D82G"]),
    "test_isolate_11": ([], ["16S-rrsB r.523A>C"]),
}


@pytest.mark.skipif(not (EXAMPLES / "test_isolate_01_1.fq.gz").is_file(), reason="resfinder-example not installed")
@pytest.mark.parametrize("isolate", sorted(RESFINDER_READS))
def test_example_read_pairs_give_what_resfinder_gives(isolate: str) -> None:
    with open(EXAMPLES / f"{isolate}_1.fq.gz", "rb") as a, open(EXAMPLES / f"{isolate}_2.fq.gz", "rb") as b:
        pred = reads.predict_streams([a, b], ["1", "2"], None, params=PredictParams(species="escherichia_coli"))
    genes, mutations = RESFINDER_READS[isolate]
    assert [g.gene for g in pred.genes] == genes
    assert [m.name for m in pred.point.mutations] == mutations
    assert all(m.depth and m.depth >= 2 for m in pred.point.mutations)
    if isolate == "test_isolate_01":
        (gene,) = pred.genes
        assert (gene.identity, gene.coverage) == (100.0, 100.0) and 9 <= gene.depth <= 13  # KMA: 10.92


def test_two_copies_of_a_gene_family_are_told_apart_by_their_pairs() -> None:
    """blaSHV-12 and blaSHV-56 differ at six bases: a read alone usually fits both, but
    its pair reaches a difference, so each copy gets its own reads (as KMA's paired
    mode assigns them) and both are called whole."""
    db = load_db()
    shv12, shv56 = (next(n for n in db.alleles if n.startswith(p)) for p in ("blaSHV-12_", "blaSHV-56_"))
    plasmids = [(f"p{i}", insert(random_dna(3_000, 200 + i), 1_000, db.alleles[a].sequence))
                for i, a in enumerate((shv12, shv56))]
    pairs = fragments(simulate_pairs(plasmids, depth=30, length=150, insert=350, error_rate=0.005, seed=9))
    genes = {g.allele: g for g in reads.predict_reads(pairs, PredictParams()).genes}
    assert {shv12, shv56} <= set(genes)
    assert genes[shv12].identity == genes[shv56].identity == 100.0
    # pairs that reach no difference go, as KMA's tie-break sends them, to one copy
    assert min(genes[shv12].depth, genes[shv56].depth) >= 12
    assert 50 <= genes[shv12].depth + genes[shv56].depth <= 70

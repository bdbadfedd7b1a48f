"""The assembly predictor (chalicelib/prediction/acquired.py): segments, boundaries, thresholds,
locus resolution, progress and cancellation, and Debian's example isolates.

Synthetic genomes are seeded random DNA with real ResFinder alleles inserted, so
expected positions are known exactly (the helpers here serve the other prediction
tests too).  Tests need the Debian ``resfinder-db`` package (and ``resfinder-example``
for the example isolates); they skip without it.
"""

from __future__ import annotations

import gzip
import io
import os
import random
from pathlib import Path

import pytest

from chalicelib.prediction import acquired as predictor
from chalicelib.jobs.params import PredictParams
from chalicelib.prediction.acquired import predict, predict_stream, segment_starts
from chalicelib.prediction.results import BatchProgress, Cancelled
from chalicelib.prediction.resfinder_db import DEFAULT_DB_DIR

DB_PRESENT = Path(os.environ.get("AMR_RESFINDER_DB") or DEFAULT_DB_DIR, "config").is_file()
needs_db = pytest.mark.skipif(not DB_PRESENT, reason="ResFinder database (resfinder-db) not installed")
# Debian package resfinder-example's data directory (overridable for other layouts).
EXAMPLES = Path(os.environ.get("AMR_RESFINDER_EXAMPLES") or "/usr/share/doc/resfinder/examples/data")
needs_examples = pytest.mark.skipif(
    not (DB_PRESENT and EXAMPLES.is_dir()), reason="resfinder-example data not installed"
)

# Small segments keep the synthetic genomes (and the tests) small.
SMALL = PredictParams(segment_length=5000, segment_overlap=1000, batch_size=4)
KPC = "blaKPC-2_1_AY034847"  # 882 bp
OQXB = "OqxB_1_EU370913"  # 3153 bp, longer than SMALL.segment_overlap
COMP = str.maketrans("ACGT", "TGCA")


def revcomp(s: str) -> str:
    return s.translate(COMP)[::-1]


def random_dna(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices("ACGT", k=n))


def insert(background: str, pos: int, gene: str) -> str:
    """Replace background[pos:pos+len(gene)] by gene (genome length unchanged)."""
    return background[:pos] + gene + background[pos + len(gene) :]


def mutate(seq: str, fraction: float, seed: int) -> str:
    """Substitute ``fraction`` of the positions, chosen at random (like real divergence)."""
    rng = random.Random(seed)
    out = list(seq)
    for p in rng.sample(range(len(seq)), round(len(seq) * fraction)):
        out[p] = rng.choice([b for b in "ACGT" if b != out[p]])
    return "".join(out)


def seq_of(db, allele: str) -> str:  # type: ignore[no-untyped-def]
    return db.alleles[allele].sequence


# ---------------------------------------------------------------------------- segments


@pytest.mark.parametrize("length", [1, 999, 5000, 5001, 9000, 9001, 23456, 100_000])
def test_segments_cover_contig_and_every_overlap_window(length: int) -> None:
    L, O = 5000, 1000
    starts = segment_starts(length, L, O)
    assert starts[0] == 0 and min(length, starts[-1] + L) == length
    for a, b in zip(starts, starts[1:]):
        assert b - a == L - O
    # Any interval of O bases lies inside one segment (why genes <= overlap are never cut).
    for s in range(0, max(1, length - O), 97):
        assert any(st <= s and s + O <= st + L for st in starts)


# ---------------------------------------------------------------------------- predictor


def _calls(genome: dict[str, str], params: PredictParams = SMALL):  # type: ignore[no-untyped-def]
    return predict(list(genome.items()), params).genes


@needs_db
def test_gene_across_boundary_shorter_than_overlap_reported_once(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    pos = 4600  # segment 0 = [0, 5000), segment 1 = [4000, 9000): crosses 5000
    genome = insert(random_dna(20000, 1), pos, gene)
    calls = _calls({"chr": genome})
    assert [(c.gene, c.contig, c.start, c.end, c.strand) for c in calls] == [
        ("blaKPC-2", "chr", pos + 1, pos + len(gene), "+")
    ]
    assert calls[0].identity == 100.0 and calls[0].coverage == 100.0


@needs_db
def test_gene_inside_overlap_found_by_two_segments_reported_once(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    pos = 4050  # entirely inside both segment 0 and segment 1
    calls = _calls({"chr": insert(random_dna(12000, 2), pos, gene)})
    assert [(c.gene, c.start, c.end) for c in calls] == [("blaKPC-2", pos + 1, pos + len(gene))]


@needs_db
@pytest.mark.parametrize("pos", [3500, 4200, 7900])
def test_gene_longer_than_overlap_across_boundary_found_once(db, pos: int) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, OQXB)
    assert len(gene) > SMALL.segment_overlap
    calls = [c for c in _calls({"chr": insert(random_dna(20000, 3), pos, gene)}) if c.gene == "OqxB"]
    assert [(c.start, c.end, c.coverage) for c in calls] == [(pos + 1, pos + len(gene), 100.0)]


@needs_db
def test_any_segmentation_finds_each_gene_exactly_once(db) -> None:  # type: ignore[no-untyped-def]
    """Seeded random placements/strands/params, including overlap 0 and genes longer than a segment."""
    rng = random.Random(0)
    for trial in range(24):
        length = rng.choice([1000, 2000, 5000])
        overlap = min(rng.choice([0, 50, 200, 900]), length - 1)
        allele = rng.choice([KPC, OQXB, "sul1_2_U12338"])
        gene, strand = seq_of(db, allele), "+"
        if rng.random() < 0.5:
            gene, strand = revcomp(gene), "-"
        pos = rng.randrange(0, 9000)
        genome = insert(random_dna(9000 + len(gene), 100 + trial), pos, gene)
        params = PredictParams(segment_length=length, segment_overlap=overlap, batch_size=rng.choice([1, 3, 16]))
        got = [(c.allele, c.start, c.end, c.strand) for c in predict([("c", genome)], params).genes]
        assert got == [(allele, pos + 1, pos + len(gene), strand)], (length, overlap, allele, pos)


@needs_db
def test_reverse_strand(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    pos = 2345
    calls = _calls({"c1": random_dna(3000, 4), "c2": insert(random_dna(9000, 5), pos, revcomp(gene))})
    assert [(c.gene, c.contig, c.start, c.end, c.strand) for c in calls] == [
        ("blaKPC-2", "c2", pos + 1, pos + len(gene), "-")
    ]


@needs_db
def test_truncated_gene_below_coverage_not_called(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    part = gene[: int(len(gene) * 0.55)]
    assert _calls({"chr": insert(random_dna(8000, 6), 1000, part)}) == []
    longer = gene[: int(len(gene) * 0.70)]
    calls = _calls({"chr": insert(random_dna(8000, 6), 1000, longer)})
    assert len(calls) == 1 and calls[0].gene.startswith("blaKPC") and 65 <= calls[0].coverage <= 72


@needs_db
def test_identity_threshold(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    low = mutate(gene, 0.12, seed=7)  # ~88% identity
    assert _calls({"chr": insert(random_dna(8000, 8), 1500, low)}) == []
    high = mutate(gene, 0.09, seed=7)  # ~91% identity
    calls = _calls({"chr": insert(random_dna(8000, 8), 1500, high)})
    assert len(calls) == 1 and calls[0].gene.startswith("blaKPC")
    assert 90.0 <= calls[0].identity <= 92.0 and calls[0].start <= 1510


@needs_db
def test_custom_thresholds_apply(db) -> None:  # type: ignore[no-untyped-def]
    gene = seq_of(db, KPC)
    part = gene[: int(len(gene) * 0.55)]
    genome = {"chr": insert(random_dna(8000, 6), 1000, part)}
    params = PredictParams(segment_length=5000, segment_overlap=1000, min_coverage=0.5)
    assert [c.gene for c in _calls(genome, params)] and all(c.coverage >= 50 for c in _calls(genome, params))


@needs_db
def test_overlapping_alleles_resolve_to_best(db) -> None:  # type: ignore[no-untyped-def]
    # Many blaCTX-M alleles align at >= 90% to this one; only the exact allele is reported.
    allele = "blaCTX-M-15_1_AY044436"
    gene = seq_of(db, allele)
    calls = _calls({"chr": insert(random_dna(6000, 9), 2000, gene)})
    assert [(c.allele, c.identity, c.coverage) for c in calls] == [(allele, 100.0, 100.0)]


@needs_db
def test_two_genes_on_two_contigs_and_resistance_profile(db) -> None:  # type: ignore[no-untyped-def]
    genome = {
        "a": insert(random_dna(7000, 10), 500, seq_of(db, KPC)),
        "b": insert(random_dna(7000, 11), 3000, seq_of(db, "sul1_2_U12338")),
    }
    pred = predict(list(genome.items()), SMALL)
    assert [(g.contig, g.gene) for g in pred.genes] == [("a", "blaKPC-2"), ("b", "sul1")]
    assert "Meropenem" in pred.resistance["Beta-lactam"]
    assert "Sulfamethoxazole" in pred.resistance["Folate pathway antagonist"]
    assert (pred.contigs, pred.bases) == (2, 14000) and pred.segments == 4


@needs_db
def test_cancellation_stops_after_first_batch(db) -> None:  # type: ignore[no-untyped-def]
    seen: list[BatchProgress] = []

    def on_batch(p: BatchProgress) -> bool:
        seen.append(p)
        return False

    genome = [(f"c{i}", random_dna(12000, 20 + i)) for i in range(4)]  # 3 segments each
    with pytest.raises(Cancelled) as exc:
        predict(genome, SMALL, on_batch)
    assert len(seen) == 1 and exc.value.progress.segments_done == SMALL.batch_size
    assert not seen[0].finished


@needs_db
def test_progress_reports_monotone_fraction_to_one(db) -> None:  # type: ignore[no-untyped-def]
    text = "".join(f">c{i}\n{random_dna(12000, 30 + i)}\n" for i in range(5))
    data = gzip.compress(text.encode())
    seen: list[BatchProgress] = []
    pred = predict_stream(
        io.BytesIO(data), name="g.fa.gz", size=len(data), params=SMALL, on_batch=lambda p: seen.append(p) is None
    )
    fractions = [p.fraction for p in seen]
    assert len(seen) == -(-pred.segments // SMALL.batch_size)
    assert all(f is not None for f in fractions) and fractions == sorted(fractions)  # type: ignore[type-var]
    assert fractions[-1] == 1.0 and seen[-1].finished and seen[-1].segments_done == pred.segments == 15
    assert seen[-1].bases_done == pred.bases == 60000


@needs_db
def test_input_errors_propagate_from_stream(db) -> None:  # type: ignore[no-untyped-def]
    from chalicelib.prediction.fasta import InputError

    with pytest.raises(InputError, match="bad.fa, line 2: invalid character"):
        predict_stream(io.BytesIO(b">a\nAC#T\n"), name="bad.fa", params=SMALL)


# ---------------------------------------------------------------------------- example isolates


def _example(name: str) -> Path:
    for p in (EXAMPLES / name, EXAMPLES / f"{name}.gz"):
        if p.is_file():
            return p
    pytest.skip(f"{name} not found")


@needs_examples
@pytest.mark.parametrize(
    "name, expected",
    [
        # Named after what they carry: blaB-2 (AF189300) and blaCTX-M-33 (AY238472)
        ("test_isolate_01.fa", {"blaB-2"}),
        ("test_isolate_02.fa", {"blaCTX-M-33"}),
        # "no_res", and a gyrA point mutation (not an acquired gene).
        ("test_isolate_03.fa", set()),
        ("test_isolate_05.fa", set()),
    ],
)
def test_example_isolates(name: str, expected: set[str]) -> None:
    path = _example(name)
    with open(path, "rb") as fh:
        pred = predict_stream(fh, name=path.name)
    assert {g.gene for g in pred.genes} == expected
    for g in pred.genes:
        assert g.identity == 100.0 and g.coverage == 100.0


@needs_examples
def test_example_isolate_01_coordinates() -> None:
    path = _example("test_isolate_01.fa")
    with open(path, "rb") as fh:
        (g,) = predict_stream(fh, name=path.name).genes
    # blaB-2 (750 bp) sits at 631..1380 of the isolate on the forward strand.
    assert (g.allele, g.contig, g.start, g.end, g.strand) == (
        "blaB-2_1_AF189300", "test_isolate_01", 631, 1380, "+")


def test_index_cache_reused() -> None:
    if not DB_PRESENT:
        pytest.skip("ResFinder database not installed")
    assert predictor.get_aligner() is predictor.get_aligner()


@needs_db
def test_a_draft_of_small_contigs_takes_few_batches(db) -> None:  # type: ignore[no-untyped-def]
    # 40 contigs of 1,000 bases, segments of 5,000 and 4 segments a batch: each contig is a
    # fifth of a segment, so 20 contigs fill a batch (a progress write each, not 10).
    seen: list[BatchProgress] = []
    genome = [(f"c{i}", random_dna(1000, 60 + i)) for i in range(40)]
    pred = predict(genome, SMALL, lambda p: seen.append(p) is None)
    assert pred.contigs == 40 and [p.segments_done for p in seen] == [20, 40]
    assert seen[-1].finished and not seen[0].finished

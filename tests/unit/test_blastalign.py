"""Point mutations where ResFinder's calls depend on BLAST's alignment (design §24).

The loci in `data/klebsiella_loci.fa` are cut from the four `kleborate-examples` genomes
(Debian's package; headers name the genome, contig and range): every ompK36 and ompK37
copy with 300 flanking bases, and MGH78578's acrR with 1,000. The expected mutations are
what ResFinder 4.3 (`-c -s klebsiella`, blastn 2.12) reported for the whole genomes, and
for acrR cut in two at gene position N (two contigs, the left ending at gene base N), what
it reported for each cut assembly. The porin loops are indel-rich: there ResFinder's names
follow where BLAST puts the gaps, which the megablast port (:mod:`blastalign`) reproduces.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import acquired, blastalign, pointfinder_db

DATA = Path(__file__).parent / "data" / "klebsiella_loci.fa"
POINT_DB = Path(pointfinder_db.db_dir(), "config").is_file()
pytestmark = pytest.mark.skipif(not POINT_DB, reason="resfinder-example is not installed (make test installs it)")

HS11286_OMPK36 = "A217S D223G E232R F198Y F207Y G189T L59V N304E N49S T222L"
KP1084_OMPK36 = "A217S D224E E232R F207W L191S L228V L59V N218H N49S T254S"
RESFINDER = {
    "Klebs_HS11286_ompK36": HS11286_OMPK36,
    "MGH78578_ompK36": HS11286_OMPK36,
    "Klebs_Kp1084_ompK36": KP1084_OMPK36,
    "NTUH-K2044_ompK36": KP1084_OMPK36,
    "Klebs_HS11286_ompK37": "I128M I70M N230G",
    "MGH78578_ompK37": "I128M I70M N230G",
    "Klebs_Kp1084_ompK37": "I128M I70M",
    "NTUH-K2044_ompK37": "I128M I70M",
}
ACRR = "P161R G164A F172S R173G L195V F197I K201M"
#: ResFinder's acrR calls with the gene cut at these positions (all seven elsewhere):
#: it reads each part as BLAST aligned it, and BLAST stops short of a mismatch near an edge.
ACRR_CUT = {510: "P161R G164A", 520: "P161R G164A L195V F197I K201M", 600: "P161R G164A F172S R173G L195V F197I"}
ACRR_FLANK = 1000


def loci() -> dict[str, str]:
    out: dict[str, list[str]] = {}
    name = ""
    for line in DATA.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            out[name] = []
        else:
            out[name].append(line.strip())
    return {k: "".join(v) for k, v in out.items()}


def mutations(*contigs: str) -> set[str]:
    pred = acquired.predict(
        [(f"contig_{i + 1}", s) for i, s in enumerate(contigs)], PredictParams(species="klebsiella")
    )
    assert pred.point is not None
    return {m.name for m in pred.point.mutations}


@pytest.mark.parametrize("locus", sorted(RESFINDER))
def test_porin_loops_are_named_as_resfinder_names_them(locus: str) -> None:
    gene = locus.rsplit("_", 1)[1]
    assert mutations(loci()[locus]) == {f"{gene} p.{m}" for m in RESFINDER[locus].split()}


@pytest.mark.parametrize("cut", [30, 150, 330, 500, 510, 520, 540, 570, 580, 600, 630])
def test_a_gene_split_across_contigs_gives_resfinders_mutations(cut: int) -> None:
    window = loci()["MGH78578_acrR"]
    left, right = window[: ACRR_FLANK + cut], window[ACRR_FLANK + cut :]
    expected = ACRR_CUT.get(cut, ACRR)
    assert mutations(left, right) == {f"acrR p.{m}" for m in expected.split()}
    assert mutations(right, left) == {f"acrR p.{m}" for m in expected.split()}  # contig order does not matter


def test_whole_acrr_gives_its_seven_mutations() -> None:
    assert mutations(loci()["MGH78578_acrR"]) == {f"acrR p.{m}" for m in ACRR.split()}


def test_greedy_alignment_places_gaps_as_blast() -> None:
    # An alignment with one equally good alternative: BLAST's greedy extension (from the
    # start) takes the matches first and puts the 1-base gap at the end of the repeat.
    subject = "ACGTTGCAGTCCGATCGGATCCTAGCTAGGCTTACGATCGA" + "AAAA" + "CTGACTGATCGTAGCTAGCTGACTAGCAT"
    query = subject[:41] + "AAAAA" + subject[45:]
    aln = blastalign.align(query, subject, (0, 0))
    assert aln.query.replace("-", "") == query and aln.subject.replace("-", "") == subject
    assert aln.subject.count("-") == 1 and aln.query.count("-") == 0
    assert aln.subject[41:46] == "AAAA-"  # the gap after the run of A, where the greedy reaches it last


def test_start_point_is_the_middle_of_the_longest_exact_run() -> None:
    subject = "ACGTTGCAGTCCGATCGGATCCTAGC" + "T" * 0 + "GGCTTACGATCGATTGACCTGACTGATCGTAGCTAGCTGACTAGCAT"
    query = subject[:10] + "A" + subject[11:]  # a mismatch at 10: the longest run is after it
    q, s = blastalign.start_point(query, subject, 0, 0)
    run = len(subject) - 11
    assert (q, s) == (11 + run // 2, 11 + run // 2)

"""KMA-style alignment of a read's clipped end (chalicelib/prediction/reads/endalign.py)."""
from __future__ import annotations

from chalicelib.prediction.reads.endalign import align_end


def placed(ops: list[tuple[str, int, str]]) -> str:
    """The read as laid over the reference: bases, '-' for deletions, [..] insertions."""
    return "".join(b if k == "M" else "-" if k == "D" else f"[{b}]" for k, _, b in ops)


def test_a_read_end_is_laid_over_the_reference_with_gaps_where_they_pay() -> None:
    ref = "ACGTACGTTGCAAGGTCCATTGA"
    assert placed(align_end("ACGTACGTTG", ref)) == "ACGTACGTTG"
    assert placed(align_end("ACGTACGAGTTGCAAGG", ref)) == "ACGTAC[GA]GTTGCAAGG"  # 2 extra bases
    assert placed(align_end("ACGTACGCAAGGTCCATT", ref)) == "ACGTAC---GCAAGGTCCATT"  # 3 bases missing
    ops = align_end("ACGTACGCAAGGTCCATT", ref)
    assert [j for k, j, _ in ops if k == "D"] == [6, 7, 8]


def test_bases_past_the_reference_end_are_free_and_the_reference_rest_need_not_be_used() -> None:
    assert placed(align_end("ACGTAAAAAAAAAAAAA", "ACGT")) == "ACGT"
    assert [j for _, j, _ in align_end("ACG", "ACGTTTTTTT")] == [0, 1, 2]


def test_foreign_bases_are_still_laid_over_the_reference_when_it_goes_on() -> None:
    """A read running out of a truncated gene: every read base is placed (KMA aligns end to
    end), with the gaps that make the most of the chance matches."""
    ops = align_end("ACGTACGT" + "TTTTGGGGCCCC", "ACGTACGT" + "GATC" * 15)
    assert sum(len(b) for k, _, b in ops if k in "MI") == 20
    assert placed(ops).startswith("ACGTACGT")

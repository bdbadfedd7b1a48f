"""Pileups of read alignments (chalicelib/prediction/reads/pileup.py)."""
from __future__ import annotations

from chalicelib.prediction.reads.pileup import Pileup


def test_pileup_from_difference_strings() -> None:
    class Hit:  # what Pileup reads of a mappy alignment
        def __init__(self, r_st: int, cs: str) -> None:
            self.r_st, self.cs = r_st, cs

    pile = Pileup("ref", "ACGTACGTAC")
    pile.add(Hit(0, ":3*ta:2-gt+gg:2"))  # ACG, T>A, AC, GT deleted, GG inserted, AC
    pile.add(Hit(2, ":8"))
    assert pile.depths() == [1, 1, 2, 2, 2, 2, 2, 2, 2, 2]
    assert pile.counts[0][3] == 1 and pile.counts[3][3] == 1  # A (read 1) and T (read 2) at position 3
    assert pile.counts[4][6] == 1 and pile.insertions == {7: {"GG": 1}}
    identity, coverage, depth, first, last = pile.template_stats()
    assert (coverage, first, last) == (1.0, 0, 10) and identity == 1.0 and depth == 1.8

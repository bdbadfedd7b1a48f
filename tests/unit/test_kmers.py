"""The k-mer screen in front of read alignment (chalicelib/prediction/reads/kmers.py).

It may keep a read that then fails to align (a false positive costs one alignment), but
it must never drop a read that shares a stretch with a reference: those are the reads
genes and mutations are called from.
"""
from __future__ import annotations

import random

import numpy as np

from chalicelib.prediction.reads.fastq import ReadBlock
from chalicelib.prediction.reads.kmers import KmerScreen

_COMP = str.maketrans("ACGT", "TGCA")


def dna(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


def revcomp(s: str) -> str:
    return s.translate(_COMP)[::-1]


REFS = [dna(900, 1), dna(1_200, 2)]
SCREEN = KmerScreen(REFS)


def select(reads: list[str]) -> list[int]:
    block = ReadBlock.of(reads)
    return SCREEN.select(block.bases, block.ends)


def test_reads_of_a_reference_are_kept_on_either_strand_at_any_phase() -> None:
    ref = REFS[1]
    reads = [ref[i : i + 150] for i in range(0, 40)] + [revcomp(ref[i : i + 150]) for i in range(300, 340)]
    # a filler read before each one shifts the read's start in the block through every phase
    mixed = [x for i, r in enumerate(reads) for x in (dna(37 + i % 4, 100 + i), r)]
    kept = set(select(mixed))
    assert all(2 * i + 1 in kept for i in range(len(reads)))


def test_a_read_overlapping_a_reference_end_by_thirty_bases_is_kept_and_lower_case_too() -> None:
    ref = REFS[0]
    overhang = [dna(120, 7) + ref[:30], ref[-30:] + dna(120, 8), ref[200:350].lower()]
    assert select(overhang) == [0, 1, 2]


def test_unrelated_reads_are_mostly_dropped_and_an_empty_block_is_empty() -> None:
    unrelated = [dna(150, 1_000 + i) for i in range(2_000)]
    assert len(select(unrelated)) < 40  # < 2 % false positives
    assert SCREEN.select(b"", np.zeros(0, np.int64)) == []


def test_a_read_with_sequencing_errors_is_kept() -> None:
    rng = random.Random(3)
    read = list(REFS[1][500:650])
    for i in rng.sample(range(150), 6):  # 4 % errors
        read[i] = "A" if read[i] != "A" else "C"
    assert select(["".join(read), "N" * 150]) == [0]

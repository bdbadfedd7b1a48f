"""A k-mer screen that picks, out of millions of reads, the few that can touch a reference.

In a read set, about one read in a hundred comes from a resistance gene or a PointFinder
gene; aligning every read (even with minimap2) is what made reads mode slow. The screen
asks only "does this read share at least two 16-mers with any reference?", vectorised
over a whole batch with numpy, and only reads that do are aligned (design §12 speed).

Why hand-written: aligners (mappy, KMA) answer a bigger question per read and cost
microseconds per read in C; no well-kept library offers a batch-vectorised membership
test of sampled k-mers. This one costs a few nanoseconds per base.

How:
* Bases are coded in two bits straight from their ASCII (``(byte >> 1) & 3``: A 0, C 1,
  T 2, G 3; lower case alike), four per byte, so a 16-mer is one 32-bit word.
* A read set is sampled at every 4th base of the batch (16-mers at positions 0, 4, 8, ...
  of the concatenated reads); the references are entered at every offset and on both
  strands, so any read holding an exact 16-mer at a sampled position is found whatever
  its strand and phase. A read overlapping a reference by 23 bases exactly has two
  sampled 16-mers inside the overlap; alignments shorter than 30 bases are not counted
  anyway.
* Membership is a bitmap of 2^29 bits (64 MiB) indexed by a multiplicative hash of the
  word; with ~1 M distinct reference words it is 0.2 % full, so requiring two hits keeps
  about 1.5 % of a genome's reads — false positives cost only an alignment that fails.
  Random reads of 64 MiB miss the caches, so a 2 MiB summary (one bit per 32) is asked
  first and the bitmap only for the ~8 % of words the summary does not rule out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

K = 16
STRIDE = 4
BITS = 29
#: A 2 MiB summary of the bitmap (fits a core's cache) answers most lookups.
SUMMARY_BITS = 24
_GROUP = np.uint32  # the 32 bitmap bits behind one summary bit, read as one word
assert np.dtype(_GROUP).itemsize * 8 == 1 << (BITS - SUMMARY_BITS)
MIN_HITS = 2
_MUL = np.uint32(0x9E3779B1)
_SHIFT = np.uint32(32 - BITS)
_COMPLEMENT = bytes.maketrans(b"ACGTacgt", b"TGCAtgca")
_VALID = np.zeros(256, np.uint8)
_VALID[np.frombuffer(b"ACGTacgt", np.uint8)] = 1


def _packed(data: bytes) -> np.ndarray:
    """Four bases per byte (first base in the low bits); the tail is padded with 'A'."""
    pad = -len(data) % 4
    arr = np.frombuffer(data + b"A" * pad if pad else data, dtype="<u4")
    t = (arr >> np.uint32(1)) & np.uint32(0x03030303)
    return ((t | (t >> np.uint32(6)) | (t >> np.uint32(12)) | (t >> np.uint32(18))) & np.uint32(0xFF)).astype(np.uint8)


def _words(packed: np.ndarray, step: int = 1) -> np.ndarray:
    """Hashed 16-mers starting at every ``step``-th byte (4 bases per byte) of packed bases."""
    if len(packed) < K // 4:
        return np.zeros(0, np.uint32)
    count = (len(packed) - K // 4) // step + 1
    view: np.ndarray = np.ndarray((count,), dtype="<u4", buffer=packed, strides=(step,))
    return (view * _MUL) >> _SHIFT


class KmerScreen:
    """The sampled-16-mer bitmap of a set of reference sequences; built once per container."""

    def __init__(self, sequences: Iterable[str]) -> None:
        # All references in one buffer per strand (a few vector passes, not thousands of
        # small ones); words that span a separator or hold a non-ACGT base are left out.
        forward = ("N".join(sequences)).encode("ascii")
        words: list[np.ndarray] = []
        for strand in (forward, forward.translate(_COMPLEMENT)[::-1]):
            clean = np.concatenate(([0], np.cumsum(_VALID[np.frombuffer(strand, np.uint8)] == 0)))
            for offset in range(4):
                hashed: np.ndarray = _words(_packed(strand[offset:]))
                starts: np.ndarray = offset + 4 * np.arange(len(hashed))  # a word per packed byte
                inside = starts + K <= len(strand)
                hashed, starts = hashed[inside], starts[inside]
                words.append(hashed[clean[starts + K] == clean[starts]])
        # Sorted, the words of one bitmap byte are neighbours: one OR-reduction per byte
        # (twice as fast as an unbuffered scatter of every word).
        hashed = np.sort(np.concatenate(words))
        cells = hashed >> np.uint32(3)
        first = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
        bits = np.left_shift(np.uint8(1), (hashed & np.uint32(7)).astype(np.uint8))
        self.bitmap = np.zeros(1 << (BITS - 3), np.uint8)
        if len(hashed):
            self.bitmap[cells[first]] = np.bitwise_or.reduceat(bits, first)
        # One bit per 2^(BITS - SUMMARY_BITS) bits of the bitmap: set when any of them is.
        self.summary = np.packbits(self.bitmap.view(_GROUP) != 0, bitorder="little")

    def select(self, bases: bytes, ends: np.ndarray, min_hits: int = MIN_HITS) -> list[int]:
        """Indexes of the reads (sequences back to back in ``bases``, read i ending at
        ``ends[i]``) with at least ``min_hits`` sampled 16-mers in the references."""
        if not len(ends):
            return []
        hashed = _words(_packed(bases), STRIDE // 4)
        # Most words miss already in the small summary (in cache); only the rest are
        # looked up in the large bitmap, whose random reads are what cost.
        top = hashed >> np.uint32(BITS - SUMMARY_BITS)
        maybe = np.flatnonzero(_bit(self.summary, top))
        if not len(maybe):
            return []
        where = maybe[_bit(self.bitmap, hashed[maybe]).astype(bool)] * STRIDE
        if not len(where):
            return []
        per_read = np.bincount(np.searchsorted(ends, where, side="right"), minlength=len(ends) + 1)
        return np.flatnonzero(per_read[: len(ends)] >= min_hits).tolist()


def _bit(bitmap: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Bits ``index`` of a bitmap (bit i is bit i % 8 of byte i // 8)."""
    return (np.take(bitmap, index >> np.uint32(3)) >> (index & np.uint32(7)).astype(np.uint8)) & np.uint8(1)

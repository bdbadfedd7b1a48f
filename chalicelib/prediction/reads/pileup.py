"""Read pileups on a reference sequence, from minimap2's difference strings (`cs`).

Reads-mode calling (design §12) needs, per reference (an allele or a PointFinder gene),
how many reads show each base at each position, how many skip it (deletion) and what
they insert after it. A pileup holds that in five flat integer arrays (A, C, G, T,
deletion) plus a sparse insertion table, so a 3 kb gene costs ~60 kB whatever the depth.

From a pileup come KMA's per-template numbers, which ResFinder's read mode thresholds:
* identity: positions whose consensus base equals the reference, / reference length
  (KMA's `Template_Identity` is relative to the template, so a partial gene also lowers
  identity);
* coverage: positions with a consensus base (not a deletion), / reference length;
* depth: aligned read bases (incl. deletions), / reference length (KMA's `Depth`).
"""

from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chalicelib.prediction.reads.endalign import align_end

BASES = "ACGT"
DELETION = 4
#: A read end clipped by the local alignment is placed without gaps up to this length.
GAPLESS_END = 4
_INDEX = {b: i for i, b in enumerate(BASES)}
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_CS = re.compile(r"(:\d+|\*[a-z][a-z]|[+\-][a-z]+|~[a-z]{2}\d+[a-z]{2})")


@dataclass
class Pileup:
    """Base counts of the reads aligned to one reference."""

    name: str
    ref: str
    counts: list[array] = field(default_factory=list)
    insertions: dict[int, dict[str, int]] = field(default_factory=dict)  # after 0-based pos -> bases -> reads
    reads: int = 0
    #: runs of matching bases as a difference array (O(1) per run); settled into counts lazily
    _runs: array = field(default_factory=lambda: array("i"))

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [array("i", bytes(4 * len(self.ref))) for _ in range(5)]
        self._runs = array("i", bytes(4 * (len(self.ref) + 1)))
        self._dirty = False

    def _settle(self) -> None:
        """Fold the pending match runs into the per-base counts."""
        if not self._dirty:
            return
        run = 0
        runs, ref, counts = self._runs, self.ref, self.counts
        for i in range(len(ref)):
            run += runs[i]
            runs[i] = 0
            if run:
                b = _INDEX.get(ref[i])
                if b is not None:
                    counts[b][i] += run
        self._dirty = False

    def add(self, hit: Any, read: str | None = None) -> None:
        """Add one mappy alignment computed with ``cs=True`` (reference coordinates are
        forward-strand whatever the read's strand).

        With the read, a local alignment clipped inside the reference is extended without
        gaps over the read's remaining bases, as far as both go: KMA aligns reads end to
        end, so the bases of a read overhanging a truncated gene still count (as
        mismatches, mostly) in ResFinder's coverage and identity."""
        if read is not None:
            self._extend(hit, read)
        pos = hit.r_st
        counts = self.counts
        for op in _CS.findall(hit.cs or ""):
            kind = op[0]
            if kind == ":":
                n = int(op[1:])
                self._runs[pos] += 1
                self._runs[pos + n] -= 1
                self._dirty = True
                pos += n
            elif kind == "*":
                b = _INDEX.get(op[2].upper())
                if b is not None:
                    counts[b][pos] += 1
                pos += 1
            elif kind == "-":
                for i in range(pos, pos + len(op) - 1):
                    counts[DELETION][i] += 1
                pos += len(op) - 1
            elif kind == "+":
                after = self.insertions.setdefault(pos - 1, {})
                seq = op[1:].upper()
                after[seq] = after.get(seq, 0) + 1
        self.reads += 1

    def _extend(self, hit: Any, read: str) -> None:
        """The read's bases beyond its local alignment, placed as KMA places them: a short
        end (up to ``GAPLESS_END`` bases) without gaps, a longer one aligned end to end
        (:func:`.endalign.align_end`), e.g. a read running out of a truncated gene."""
        plus = hit.strand >= 0
        oriented = read if plus else read.translate(_COMPLEMENT)[::-1]
        q_st, q_en = (hit.q_st, hit.q_en) if plus else (len(read) - hit.q_en, len(read) - hit.q_st)
        counts = self.counts
        ref, r_st, r_en = self.ref, hit.r_st, hit.r_en
        tail, head = oriented[q_en:], oriented[:q_st]
        if len(tail) > GAPLESS_END and r_en < len(ref):
            for kind, j, bases in align_end(tail, ref[r_en:]):
                self._place(kind, r_en + j, r_en + j - 1, bases)
        else:
            for j in range(min(len(tail), len(ref) - r_en)):
                b = _INDEX.get(tail[j].upper())
                if b is not None:
                    counts[b][r_en + j] += 1
        if len(head) > GAPLESS_END and r_st > 0:
            for kind, j, bases in align_end(head[::-1], ref[:r_st][::-1]):
                self._place(kind, r_st - 1 - j, r_st - 1 - j, bases[::-1])
        else:
            for j in range(1, min(len(head), r_st) + 1):
                b = _INDEX.get(head[-j].upper())
                if b is not None:
                    counts[b][r_st - j] += 1

    def _place(self, kind: str, where: int, after: int, bases: str) -> None:
        """One operation of an end alignment: a base at ``where``, a deletion of
        ``where``, or ``bases`` inserted after ``after``."""
        if kind == "M":
            b = _INDEX.get(bases.upper())
            if b is not None:
                self.counts[b][where] += 1
        elif kind == "D":
            self.counts[DELETION][where] += 1
        elif after >= 0:
            found = self.insertions.setdefault(after, {})
            found[bases.upper()] = found.get(bases.upper(), 0) + 1

    def depths(self) -> list[int]:
        self._settle()
        a, c, g, t, d = self.counts
        return [a[i] + c[i] + g[i] + t[i] + d[i] for i in range(len(self.ref))]

    def consensus(self) -> np.ndarray:
        """Per position, the index of the most frequent option (0-3 a base, 4 deletion),
        -1 when uncovered; ties go to the reference base, as a consensus should not invent
        a change."""
        self._settle()
        counts = np.array([np.frombuffer(c, dtype=np.int32) for c in self.counts])
        top = counts.max(axis=0)
        ref = np.frombuffer(self.ref.upper().encode("ascii"), np.uint8)
        ref_index = np.full(len(ref), -1, np.int64)
        for k, base in enumerate(BASES.encode("ascii")):
            ref_index[ref == base] = k
        ref_count = counts[np.maximum(ref_index, 0), np.arange(len(ref))]
        call = np.where((ref_index >= 0) & (ref_count == top), ref_index, counts.argmax(axis=0))
        return np.where(top == 0, -1, call)

    def template_stats(self) -> tuple[float, float, float, int, int]:
        """(identity, coverage, depth, first covered 0-based position, last covered + 1)."""
        length = len(self.ref)
        if not length:
            return 0.0, 0.0, 0.0, 0, 0
        call = self.consensus()
        covered = np.flatnonzero((call >= 0) & (call != DELETION))
        ref = np.frombuffer(self.ref.upper().encode("ascii"), np.uint8)
        same = int((np.frombuffer(BASES.encode("ascii"), np.uint8)[np.clip(call, 0, 3)][covered] == ref[covered]).sum())
        total = sum(sum(c) for c in self.counts)
        first, last = (int(covered[0]), int(covered[-1]) + 1) if len(covered) else (0, 0)
        return same / length, len(covered) / length, total / length, first, last

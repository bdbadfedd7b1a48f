"""Allele families: near-identical alleles of equal length, scored together (reads mode).

ResFinder lists up to ~200 alleles of one gene family (blaTEM, blaSHV, blaCTX-M, ...) that
differ at a handful of positions. A read of such a gene aligns to all of them, and an
aligner computes every one of those alignments: ~2 ms per read, most of the reads-mode
time. Alleles of one family and one length line up without gaps, so the read is aligned
once, to the family's first allele (its representative), and its score on every other
member comes from comparing its aligned bases with the members' bases at the same
positions — one numpy comparison for the whole family. A read whose alignment has an
indel is aligned to the members one by one (rare).

Scores are those of :func:`chalicelib.prediction.reads.predictor._score` on an alignment of the
same span: matches − 3 × mismatches; the span must be ≥ ``min_aligned`` and ≥
``min_identity`` identical, as for any alignment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Members differ from the representative at no more than this fraction of positions.
MAX_DIFFERENCE = 0.03
_CS = re.compile(r"(:\d+|\*[a-z][a-z]|[+\-~][a-z0-9]+)")
_COMPLEMENT = bytes.maketrans(b"ACGTN", b"TGCAN")


@dataclass
class Family:
    """Members (database order; the first is the representative) as rows of bases."""

    names: list[str]
    matrix: np.ndarray
    _aligner: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def aligner(self, build: Callable[[Iterable[tuple[str, str]]], Any]) -> Any:
        """A small index of the members, for reads whose alignment has an indel."""
        with self._lock:
            if self._aligner is None:
                self._aligner = build(
                    (n, row.tobytes().decode("ascii")) for n, row in zip(self.names, self.matrix, strict=False)
                )
            return self._aligner


def group(records: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, Family]:
    """Families of ``(name, sequence, classes)`` records: same length, same class
    databases, each member within MAX_DIFFERENCE of the first; keyed by the
    representative's name. Alleles alone in their family are not listed."""
    buckets: dict[tuple[int, tuple[str, ...]], list[tuple[str, str]]] = {}
    for name, seq, classes in records:
        buckets.setdefault((len(seq), classes), []).append((name, seq.upper()))
    families: dict[str, Family] = {}
    for (length, _), members in buckets.items():
        if len(members) < 2 or length == 0:
            continue
        names = [n for n, _ in members]
        rows = np.frombuffer("".join(s for _, s in members).encode("ascii"), np.uint8).reshape(len(members), length)
        left = np.ones(len(members), bool)
        for i in range(len(members)):
            if not left[i]:
                continue
            close = left & ((rows != rows[i]).sum(axis=1) <= MAX_DIFFERENCE * length)
            left &= ~close
            if close.sum() > 1:
                picked = np.flatnonzero(close)
                families[names[i]] = Family([names[j] for j in picked], rows[picked].copy())
    return families


def member_scores(
    family: Family, hit: Any, read: bytes, min_aligned: int, min_identity: float
) -> dict[str, int] | None:
    """Scores of the read on every member from its alignment (``cs``) to the
    representative, or None when the alignment has an indel (align to the members).

    The representative's alignment may stop short of the read's ends where the
    representative differs and a member does not; so each member's alignment is also
    extended, without gaps, over the read's remaining bases as far as it gains (a match
    +1, a mismatch −3: the score's own weights), as a local alignment to that member
    would."""
    start, end = hit.r_st, hit.r_en
    core = family.matrix[0, start:end].copy()
    pos = 0
    for op in _CS.findall(hit.cs or ""):
        kind = op[0]
        if kind == ":":
            pos += int(op[1:])
        elif kind == "*":
            core[pos] = ord(op[2].upper())
            pos += 1
        else:
            return None
    oriented = read.upper() if hit.strand >= 0 else read.upper().translate(_COMPLEMENT)[::-1]
    q_st, q_en = (hit.q_st, hit.q_en) if hit.strand >= 0 else (len(read) - hit.q_en, len(read) - hit.q_st)
    mismatches = (family.matrix[:, start:end] != core).sum(axis=1)
    span = np.full(len(family.names), end - start)
    score = span - 4 * mismatches  # matches - 3 x mismatches
    length = family.matrix.shape[1]
    left = min(q_st, start)
    right = min(len(oriented) - q_en, length - end)
    for bases, columns, reverse in (
        (oriented[q_st - left : q_st], family.matrix[:, start - left : start], True),
        (oriented[q_en : q_en + right], family.matrix[:, end : end + right], False),
    ):
        if not bases:
            continue
        same = columns == np.frombuffer(bases, np.uint8)
        if reverse:
            same = same[:, ::-1]
        gain = np.cumsum(np.where(same, 1, -3), axis=1)
        best = np.maximum(gain.max(axis=1), 0)
        reach = np.where(best > 0, gain.argmax(axis=1) + 1, 0)
        score += best
        extra_mismatches = np.where(reach > 0, (reach - best) // 4, 0)
        span += reach
        mismatches += extra_mismatches
    matches = span - mismatches
    ok = (span >= min_aligned) & (matches >= min_identity * span)
    return {family.names[i]: int(score[i]) for i in np.flatnonzero(ok)}

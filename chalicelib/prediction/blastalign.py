"""BLAST's megablast gapped alignment (greedy, linear gap costs), for gap placement as
ResFinder's PointFinder sees it (design §24).

Why a port and not an aligner binding: PointFinder reads mutations from the alignment
`blastn` (task megablast: reward 1, penalty -2, gap costs 0/0, i.e. linear 2.5 per gap
base) gives it. Under that scoring maximising the score is minimising the number of
differences (mismatches plus gap bases), so an indel-rich stretch such as the porin loops
of ompK36/ompK37 has many alignments of equal score; which one BLAST prints decides the
codons PointFinder names (`p.L229A` against `p.E232R`). A Smith-Waterman aligner with
BLAST's scores (parasail, tried) returns a different co-optimal alignment in those loops.
The placement is BLAST's own: a greedy (furthest-reaching diagonal) extension to the right
and to the left of a start point, each traced back preferring a gap in the genome, then a
substitution, then a gap in the gene, and short gap pairs reduced afterwards. This module
follows the NCBI C toolkit's `BLAST_GreedyAlign`, `BLAST_GreedyGappedAlignment` and
`s_ReduceGaps` (the non-affine path) step by step:

* the start point of the final alignment is BLAST's estimate from the preliminary,
  score-only extension of the first word hit: the middle of the longest run of exact
  matches that extension met (:func:`start_point`);
* X-drop thresholds are megablast's defaults converted to raw, doubled scores (25 bits
  preliminary, 100 bits final; lambda 1.28 for reward 1 / penalty -2);
* the gene is the subject in its own orientation and the genome (reverse-complemented
  for a minus-strand copy) the query, as `blastn -subject GENE -query GENOME` aligns them.

Checked against blastn 2.12 on the four `kleborate-examples` genomes: the alignment of
every ompK36 and ompK37 copy is BLAST's character for character.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Megablast's scores doubled (reward 1 is odd, so BLAST doubles everything).
MATCH_COST = 2
MISMATCH_COST = 4
#: X-drop of the preliminary (25 bits) and final (100 bits) extension, raw and doubled.
XDROP_PRELIM = 26
XDROP_FINAL = 108
#: Megablast's word size: the preliminary extension starts at the first exact run this long.
WORD = 28
#: GREEDY_MAX_COST and GREEDY_MAX_COST_FRACTION of the toolkit.
MAX_COST = 1000
MAX_COST_FRACTION = 2

_INVALID = -(2**31) + 2
_CHUNK = 16


@dataclass
class _Extension:
    """One greedy extension: aligned lengths, edit operations (traceback order) and the
    longest exact run met (start in seq1, start in seq2, length)."""

    len1: int
    len2: int
    ops: list[list[int | str]]
    seed: tuple[int, int, int]


def _extend(  # noqa: C901 - a step-by-step port of one C function; split, it no longer reads against it
    seq1: str, seq2: str, reverse: bool, xdrop: int, traceback: bool = True
) -> _Extension:
    """`BLAST_GreedyAlign`: extend from the start of both sequences (their ends when
    `reverse`) until the X-drop test stops it; seq1 is the query (genome), seq2 the gene."""
    if reverse:
        seq1, seq2 = seq1[::-1], seq2[::-1]
    len1, len2 = len(seq1), len(seq2)

    def run(i1: int, i2: int) -> int:
        """Exact matches from (i1, i2); an N in the genome never matches (as in BLAST)."""
        start = i1
        stop = min(len1 - i1, len2 - i2, _CHUNK)
        while i1 - start < stop:  # most runs off the best path are a few bases long
            c = seq1[i1]
            if c != seq2[i2] or c == "N":
                return i1 - start
            i1 += 1
            i2 += 1
        while True:  # then whole chunks: a long identical stretch costs a few slice compares
            a = seq1[i1 : i1 + _CHUNK]
            if len(a) == _CHUNK and a == seq2[i2 : i2 + _CHUNK] and "N" not in a:
                i1 += _CHUNK
                i2 += _CHUNK
            else:
                break
        while i1 < len1 and i2 < len2 and seq1[i1] != "N" and seq1[i1] == seq2[i2]:
            i1 += 1
            i2 += 1
        return i1 - start

    index = run(0, 0)
    seed = (0, 0, index)
    if index in (len1, len2):
        return _Extension(index, index, [["S", index]] if index else [], seed)
    max_dist = min(MAX_COST, len2 // MAX_COST_FRACTION + 1)
    origin = max_dist + 2
    half = MATCH_COST // 2
    xdrop_offset = (xdrop + half) // (MATCH_COST + MISMATCH_COST) + 1
    scores = [0] * xdrop_offset + [index * MATCH_COST]  # scores[d + xdrop_offset]: best at distance d
    width = 2 * max_dist + 6  # every diagonal index the bounds below can reach, plus sentinels
    first = [_INVALID] * width
    first[origin] = index
    last: list[list[int]] = [first]  # every row for a traceback; two alternating rows for a score
    if not traceback:
        last.append([_INVALID] * width)
    lower, upper = origin - 1, origin + 1
    end1 = end2 = False
    best_dist, best_diag, align1, align2 = 0, origin, index, index
    op_cost = MATCH_COST + MISMATCH_COST
    for d in range(1, max_dist + 1):
        if traceback:
            prev, cur = last[d - 1], [_INVALID] * width
            last.append(cur)
        else:
            prev, cur = last[(d - 1) % 2], last[d % 2]
        prev[lower - 1] = prev[lower] = prev[upper] = prev[upper + 1] = _INVALID
        xdrop_score = math.ceil((scores[d] + op_cost * d - xdrop) / half)
        extent = ext_seq2 = ext_diag = 0
        for k in range(lower, upper + 1):
            a, b, c = prev[k + 1], prev[k], prev[k - 1]
            i2 = (a if a > b else b) + 1
            if c > i2:
                i2 = c
            i1 = i2 + k - origin
            if i2 < 0 or i1 + i2 < xdrop_score:
                if k == lower:
                    lower += 1
                else:
                    cur[k] = _INVALID
                continue
            upper = k
            n = run(i1, i2)
            if n > seed[2]:
                seed = (i1, i2, n)
            i1 += n
            i2 += n
            cur[k] = i2
            if i1 + i2 > extent:
                extent, ext_seq2, ext_diag = i1 + i2, i2, k
            if i2 == len2:
                lower, end2 = k + 1, True
            if i1 == len1:
                upper, end1 = k - 1, True
        score = extent * half - d * op_cost
        if score > scores[-1]:
            scores.append(score)
            best_dist, best_diag = d, ext_diag
            align2, align1 = ext_seq2, ext_seq2 + ext_diag - origin
        else:
            scores.append(scores[-1])
        if lower > upper:
            break
        lower -= not end2
        upper += not end1
    ops: list[list[int | str]] = []
    if traceback:
        _traceback(last, best_dist, best_diag, align2, origin, ops)
    return _Extension(align1, align2, ops, seed)


def _traceback(
    last: list[list[int]], d: int, diag: int, seq2_index: int, origin: int, ops: list[list[int | str]]
) -> None:
    """`s_GetNextNonAffineTback`: the predecessor with the largest seq2 offset, a gap in
    seq2 first, then a substitution, then a gap in seq1."""

    def add(op: str, n: int) -> None:
        if n <= 0:
            return
        if ops and ops[-1][0] == op:
            ops[-1][1] = int(ops[-1][1]) + n
        else:
            ops.append([op, n])

    while d > 0:
        prev = last[d - 1]
        left, same, right = prev[diag - 1], prev[diag], prev[diag + 1]
        if left > max(same, right):
            add("S", seq2_index - left)
            add("I", 1)  # a genome base against a gap in the gene
            diag, seq2_index = diag - 1, left
        elif same > right:
            add("S", seq2_index - same)
            seq2_index = same
        else:
            add("S", seq2_index - right - 1)
            add("D", 1)  # a gene base against a gap in the genome
            diag, seq2_index = diag + 1, right
        d -= 1
    add("S", last[0][origin])


def _reduce_gaps(  # noqa: C901 - a step-by-step port of the toolkit's s_ReduceGaps
    esp: list[list[int | str]], query: str, subject: str
) -> list[list[int | str]]:
    """`s_ReduceGaps`: a gap, a short run and a gap of the other kind become substitutions
    where that loses no matches (the toolkit's pointer walk, kept as it is)."""
    q = s = 0
    for i in range(len(esp)):
        op = esp[i][0]
        if op == "S":
            q += int(esp[i][1])
            s += int(esp[i][1])
            continue
        if i > 1 and op != esp[i - 2][0] and int(esp[i - 2][1]) > 0:
            total = int(esp[i][1]) + int(esp[i - 1][1]) + int(esp[i - 2][1])
            if total == 3:
                esp[i - 2][1], esp[i - 1][1], esp[i][1] = 0, 2, 0
                if op == "I":
                    q += 1
                else:
                    s += 1
            elif total < 12:
                shift = min(int(esp[i][1]), int(esp[i - 2][1]))
                mid = int(esp[i - 1][1])
                q -= mid
                s -= mid
                q1, s1 = q, s
                if op == "I":
                    s -= shift
                else:
                    q -= shift
                nm1 = nm2 = 0
                for _ in range(mid):
                    nm1 += _at(query, q1) == _at(subject, s1)
                    nm2 += _at(query, q) == _at(subject, s)
                    q1, s1, q, s = q1 + 1, s1 + 1, q + 1, s + 1
                for _ in range(shift):
                    nm2 += _at(query, q) == _at(subject, s)
                    q, s = q + 1, s + 1
                if nm2 >= nm1 - shift:
                    esp[i - 2][1] = int(esp[i - 2][1]) - shift
                    esp[i - 1][1] = mid + shift
                    esp[i][1] = int(esp[i][1]) - shift
                else:
                    q, s = q1, s1
        if esp[i][0] == "I":
            q += int(esp[i][1])
        else:
            s += int(esp[i][1])
    out: list[list[int | str]] = []
    i = 0
    while i < len(esp):
        if int(esp[i][1]) > 0:
            out.append(list(esp[i]))
        else:
            i += 1
            if i < len(esp) and out:
                out[-1][1] = int(out[-1][1]) + int(esp[i][1])
        i += 1
    return out


def _at(seq: str, i: int) -> str:
    """A base, or a sentinel outside the sequence (the toolkit reads the neighbouring
    bytes of its buffers there; nothing outside can match)."""
    return seq[i] if 0 <= i < len(seq) else "\0"


def start_point(query: str, subject: str, q_off: int, s_off: int) -> tuple[int, int]:
    """BLAST's start of the final extension: the preliminary extension from the word hit
    (q_off, s_off), then the middle of the longest exact run it met, inside its box."""
    right = _extend(query[q_off:], subject[s_off:], False, XDROP_PRELIM, traceback=False)
    left = _extend(query[:q_off], subject[:s_off], True, XDROP_PRELIM, traceback=False)
    q_box_l, s_box_l = q_off - left.len1, s_off - left.len2
    q_box_r, s_box_r = q_off + right.len1, s_off + right.len2
    q_l, s_l = q_off - left.seed[0], s_off - left.seed[1]
    q_r, s_r = q_off + right.seed[0], s_off + right.seed[1]
    valid_l = valid_r = 0
    if q_r < q_box_r and s_r < s_box_r:
        valid_r = min(q_box_r - q_r, s_box_r - s_r, right.seed[2]) // 2
    else:
        q_r, s_r = q_off, s_off
    if q_l > q_box_l and s_l > s_box_l:
        valid_l = min(q_l - q_box_l, s_l - s_box_l, left.seed[2]) // 2
    else:
        q_l, s_l = q_off, s_off
    if valid_r > valid_l:
        return q_r + valid_r, s_r + valid_r
    return q_l - valid_l, s_l - valid_l


@dataclass(frozen=True)
class GappedAlignment:
    """BLAST's alignment: 0-based starts in query and subject, gapped strings of equal length."""

    query_start: int
    subject_start: int
    query: str
    subject: str


def align_from(query: str, subject: str, q_off: int, s_off: int) -> GappedAlignment:
    """`BLAST_GreedyGappedAlignment` with traceback from the start point (q_off, s_off)."""
    right = _extend(query[q_off:], subject[s_off:], False, XDROP_FINAL)
    left = _extend(query[:q_off], subject[:s_off], True, XDROP_FINAL)
    esp = [list(op) for op in left.ops]  # the left traceback is already in forward order
    fwd = [list(op) for op in right.ops]
    if fwd and esp and fwd[-1][0] == esp[-1][0]:
        esp[-1][1] = int(esp[-1][1]) + int(fwd[-1][1])
        fwd = fwd[:-1]
    esp += fwd[::-1]
    q0, s0 = q_off - left.len1, s_off - left.len2
    esp = _reduce_gaps(esp, query[q0:], subject[s0:])
    qa: list[str] = []
    sa: list[str] = []
    qi, si = q0, s0
    for op, n in esp:
        n = int(n)
        if op == "S":
            qa.append(query[qi : qi + n])
            sa.append(subject[si : si + n])
            qi, si = qi + n, si + n
        elif op == "I":
            qa.append(query[qi : qi + n])
            sa.append("-" * n)
            qi += n
        else:
            qa.append("-" * n)
            sa.append(subject[si : si + n])
            si += n
    return GappedAlignment(q0, s0, "".join(qa), "".join(sa))


def align(query: str, subject: str, word: tuple[int, int]) -> GappedAlignment:
    """Megablast's alignment of `query` (genome, in the gene's orientation) and `subject`
    (gene) from a word hit (query offset, subject offset of an exact run of >= WORD bases)."""
    q_off, s_off = start_point(query, subject, *word)
    return align_from(query, subject, q_off, s_off)

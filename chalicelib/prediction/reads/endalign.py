"""KMA's alignment of a read's end beyond its local alignment (reads mode).

minimap2 aligns reads locally: where a read runs from a gene into foreign sequence (a
truncated gene such as qacEΔ1, a gene's edge in a plasmid) it stops. KMA, which ResFinder's
read mode uses, aligns every read to its end: the read's remaining bases must be placed
against the template (match +1, mismatch −2, a gap of length L −(5 + L − 1)); only bases
past the template's end are free, and the template's remainder need not be used. The
placement decides ResFinder's identity and coverage of such genes, so the read's clipped
end is aligned here the same way.

Why hand-written: no well-kept Python aligner offers this end mode (global on the read,
free on the far end of the reference) with KMA's scores; it runs on the few reads whose
clipped end is long, one numpy row per read base.
"""

from __future__ import annotations

import numpy as np

MATCH, MISMATCH, GAP_OPEN, GAP_EXTEND = 1, -2, 5, 1
#: The reference considered beyond the read's length (longer gaps are never worth it here).
SLACK = 30
_NEG = -(10**6)


def align_end(read: str, ref: str) -> list[tuple[str, int, str]]:
    """Align all of ``read`` from its first base to a prefix of ``ref`` (the reference from
    where the read's local alignment stopped to the reference's end); read bases past the
    reference's end are free. Returns operations in order: ``("M", j, base)`` read base over ``ref[j]``, ``("D", j,
    "")`` ``ref[j]`` deleted, ``("I", j, bases)`` bases inserted before ``ref[j]``."""
    ref_is_end = len(read) + SLACK >= len(ref)
    if ref_is_end:  # read bases beyond the reference's end (and a few insertions) are free
        read = read[: len(ref) + SLACK]
    m = len(read)
    ref = ref[: m + SLACK]
    n = len(ref)
    if m == 0 or n == 0:
        return []
    r = np.frombuffer(read.upper().encode("ascii"), np.uint8)
    t = np.frombuffer(ref.upper().encode("ascii"), np.uint8)
    cols = np.arange(n + 1)
    score = np.where(t[None, :] == r[:, None], MATCH, MISMATCH)  # read base x reference base
    H = np.full((m + 1, n + 1), _NEG, np.int64)
    F = np.full((m + 1, n + 1), _NEG, np.int64)
    pre = np.full((m + 1, n + 1), _NEG, np.int64)
    H[0] = -(GAP_OPEN - GAP_EXTEND + GAP_EXTEND * cols)
    H[0, 0] = 0
    pre[0] = H[0]
    ramp = GAP_EXTEND * cols
    deletion = np.empty(n + 1, np.int64)
    best = np.empty(n + 1, np.int64)
    for i in range(1, m + 1):
        row, above = pre[i], H[i - 1]
        np.maximum(F[i - 1] - GAP_EXTEND, above - GAP_OPEN, out=F[i])
        row[0] = _NEG
        np.add(above[:-1], score[i - 1], out=row[1:])
        np.maximum(row, F[i], out=row)
        # a deletion run ending at j opened after some k < j on this row:
        # max_k pre[k] - open - extend * (j - k - 1)
        np.maximum.accumulate(row + ramp, out=best)
        deletion[0] = _NEG
        np.subtract(best[:-1], ramp[1:] + (GAP_OPEN - GAP_EXTEND), out=deletion[1:])
        np.maximum(row, deletion, out=H[i])
    # end: the read used up (the reference's rest is free), or the reference's end reached
    # (the read's rest is free)
    i, j = m, int(np.argmax(H[m]))
    if ref_is_end and int(H[:, n].max()) > int(H[m, j]):
        i, j = int(np.argmax(H[:, n])), n
    return _traceback(H, F, pre, r, t, i, j)


def _traceback(
    H: np.ndarray, F: np.ndarray, pre: np.ndarray, r: np.ndarray, t: np.ndarray, i: int, j: int
) -> list[tuple[str, int, str]]:
    ops: list[tuple[str, int, str]] = []
    state = "H"
    while i > 0 or j > 0:
        if state == "H":
            if (
                i > 0
                and j > 0
                and H[i, j] == pre[i, j]
                and pre[i, j] == H[i - 1, j - 1] + (MATCH if t[j - 1] == r[i - 1] else MISMATCH)
            ):
                ops.append(("M", j - 1, chr(r[i - 1])))
                i, j = i - 1, j - 1
            elif i > 0 and H[i, j] == pre[i, j] and pre[i, j] == F[i, j]:
                state = "F"
            elif i == 0:
                ops.extend(("D", k, "") for k in range(j - 1, -1, -1))
                j = 0
            else:  # a deletion run: find where it opened
                k = j - 1
                while pre[i, k] - GAP_OPEN - GAP_EXTEND * (j - k - 1) != H[i, j]:
                    k -= 1
                ops.extend(("D", x, "") for x in range(j - 1, k - 1, -1))
                j = k
        else:  # F: read bases inserted before ref[j]
            ops.append(("I", j, chr(r[i - 1])))
            opened = F[i, j] == H[i - 1, j] - GAP_OPEN
            i -= 1
            if opened:
                state = "H"
    ops.reverse()
    return _merge_insertions(ops)


def _merge_insertions(ops: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Consecutive inserted bases before one reference position as one insertion."""
    out: list[tuple[str, int, str]] = []
    for op in ops:
        if op[0] == "I" and out and out[-1][0] == "I" and out[-1][1] == op[1]:
            out[-1] = ("I", op[1], out[-1][2] + op[2])
        else:
            out.append(op)
    return out

"""Chromosomal point mutations with ResFinder 4.3's PointFinder semantics (design §12).

How a genome is searched (why it looks like this):

* The species' genes (a few kilobases each) form a second, tiny minimap2 index. While
  the acquired-gene predictor streams segments, each segment is also mapped against it
  (:meth:`PointSearch.scan`); a hit only records the contig window around the projected
  gene (the whole gene plus a margin), cut from the contig while it is in memory. After
  the stream, windows of one contig are merged (a gene crossing a segment boundary is
  seen from both segments and becomes one window) and realigned with the difference
  string (`cs`), which gives every substitution and indel in gene coordinates.
* A local aligner stops short of a mismatch in a gene's last (or first) bases; the
  alignment is therefore extended without gaps to the gene's ends when the contig has
  the bases (at most :data:`EDGE_EXTEND`), so a mutation in the first or last codon is
  still read.
* Thresholds are ResFinder's for PointFinder: a gene counts when its hits reach 80 %
  identity (`--threshold_point 0.8`) and together cover 1 % of it (`--min_cov_point
  0.01`); a gene below that gives no mutations. Every copy of a gene (e.g. the seven
  rRNA operons) is read, as ResFinder's `PointFinder_results.txt` lists them.
* Differences are read as PointFinder reads them: codon by codon in the gene's frame
  (amino-acid changes, `p.S83L`; a premature stop ends the reading of that copy,
  `p.Q123* - Premature stop codon`), base by base in rRNA genes (`r.2058A>G`) and in
  promoters, numbered backwards from the gene start (`n.-42C>T`); indels are named as
  PointFinder names them (`p.S83del`, `...ins...`, ` - Frameshift`, ` - Frame restored`),
  pairing codons after an indel by reading frame as PointFinder does (fed BLAST's
  alignment, this reader gives ResFinder's list exactly; differences that remain come
  from where minimap2 and BLAST place gaps in indel-rich stretches). Only mutations the
  database lists
  are reported, with ResFinder's resistance (every antibiotic listed for that change)
  and PMIDs; a premature stop in a gene whose database lists stop codons is known too.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import mappy

from chalicelib.prediction import blastalign
from chalicelib.prediction.mapindex import build_index
from chalicelib.prediction.pointfinder_db import PointGene, PointRow, SpeciesDB

MIN_IDENTITY = 0.80
MIN_COVERAGE = 0.01
#: Bases a clipped alignment is extended, ungapped, towards the gene's ends.
EDGE_EXTEND = 60
#: Contig bases kept around a projected gene (room for indels in the contig).
WINDOW_MARGIN = 200
# Gaps cost more than minimap2's default (open 6, extend 4): divergent stretches then align as
# substitutions, as BLAST (PointFinder's aligner) aligns them, not as pairs of frameshifts.
MAPPY_OPTIONS: dict[str, Any] = {"k": 15, "w": 10, "best_n": 50, "scoring": [2, 4, 6, 4, 40, 1]}

_CODONS = {
    a + b + c: aa
    for (a, b, c), aa in zip(
        ((x, y, z) for x in "TCAG" for y in "TCAG" for z in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
        strict=False,
    )
}
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_CS = re.compile(r"(:\d+|\*[a-z][a-z]|[+\-][a-z]+|~[a-z]{2}\d+[a-z]{2})")


def translate(codon: str) -> str:
    """One amino acid; '?' for a codon with an ambiguous base (as PointFinder)."""
    return _CODONS.get(codon.upper(), "?")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True)
class Alignment:
    """One copy of a gene in the genome, in the gene's orientation.

    `ref` and `query` are gapped strings of equal length starting at gene position
    `ref_start` (0-based); `positions[i]` is the contig position (1-based) of column i's
    query base (for a deletion, of the base before it)."""

    gene: PointGene
    contig: str
    ref_start: int
    ref: str
    query: str
    positions: tuple[int, ...]
    strand: str

    @property
    def ref_end(self) -> int:
        return self.ref_start + len(self.ref) - self.ref.count("-")

    @functools.cached_property
    def matches(self) -> int:
        return sum(1 for r, q in zip(self.ref, self.query, strict=False) if r == q)

    @functools.cached_property
    def identity(self) -> float:
        return self.matches / len(self.ref) if self.ref else 0.0

    @property
    def contig_start(self) -> int:
        return min(self.positions)

    @property
    def contig_end(self) -> int:
        return max(self.positions)


@dataclass(frozen=True)
class Mutation:
    """One difference from the reference, named as PointFinder names it."""

    kind: str  # sub, ins, del
    position: int  # codon number (coding) or nucleotide position (rRNA, promoter)
    name: str  # p.S83L, r.2058A>G, n.-42C>T, p.S83del ...
    ref: str  # reference codon / bases
    alt: str  # query codon / bases
    ref_aa: str = ""
    alt_aa: str = ""
    nucleotide: bool = False
    promoter: bool = False
    contig_position: int = 0
    nuc_position: int = 0  # for indels: nucleotide position (PointFinder's second lookup key)
    indel: str = ""  # the inserted or deleted bases themselves

    @property
    def lookup(self) -> str:
        """What the database's `Res_codon` column lists for this change."""
        if self.kind == "sub":
            return self.alt if self.nucleotide else self.alt_aa
        return self.alt_aa if (not self.nucleotide and self.alt_aa) else self.alt


@dataclass(frozen=True)
class MutationCall:
    """A known mutation found in the genome (what results and phenotypes use)."""

    gene: str  # display name, e.g. gyrA
    template: str
    mutation: Mutation
    contig: str
    resistance: tuple[str, ...]  # antibiotics (lower case), every row listing this change
    pmids: tuple[str, ...]
    rows: tuple[PointRow, ...]  # the database rows of this change (phenotype rules)
    stop_rows: tuple[PointRow, ...] = ()
    depth: float | None = None

    @property
    def name(self) -> str:
        """`gyrA p.S83L`, as ResFinder writes it."""
        return f"{self.gene} {self.mutation.name}"

    @property
    def nucleotide_change(self) -> str:
        return f"{self.mutation.ref} -> {self.mutation.alt}"

    @property
    def amino_acid_change(self) -> str:
        if self.mutation.nucleotide:
            return "Promoter mutations" if self.mutation.promoter else "RNA mutations"
        return f"{self.mutation.ref_aa} -> {self.mutation.alt_aa}"

    def to_dict(self) -> dict[str, Any]:
        data = {
            "gene": self.gene,
            "mutation": self.name,
            "nucleotide_change": self.nucleotide_change,
            "amino_acid_change": self.amino_acid_change,
            "type": {"sub": "substitution", "ins": "insertion", "del": "deletion"}[self.mutation.kind],
            "position": self.mutation.position,
            "contig": self.contig,
            "contig_position": self.mutation.contig_position,
            "resistance": list(self.resistance),
            "pmids": list(self.pmids),
            "reference": self.template,
        }
        if self.depth is not None:
            data["depth"] = self.depth
        return data


@dataclass(frozen=True)
class GeneCall:
    """A species gene found (or found below threshold) in the genome."""

    gene: str
    template: str
    identity: float
    coverage: float
    copies: int
    called: bool


@dataclass
class PointResult:
    species: str
    genes: list[GeneCall] = field(default_factory=list)
    mutations: list[MutationCall] = field(default_factory=list)


# ----------------------------------------------------------------------------- index


@functools.lru_cache(maxsize=16)
def _aligner(species: SpeciesDB) -> mappy.Aligner:
    """The species' gene index, built once per process."""
    return build_index(((g.template, g.sequence) for g in species.genes), "the PointFinder genes", **MAPPY_OPTIONS)


def clear_index_cache() -> None:
    """Drop cached species indexes (benchmarks measuring a cold build)."""
    _aligner.cache_clear()


class PointSearch:
    """Collects, during the segment stream, the contig windows where species genes lie."""

    def __init__(self, species: SpeciesDB) -> None:
        self.species = species
        self.aligner = _aligner(species)
        self.templates = {g.template: g for g in species.genes}
        self._pieces: dict[int, list[tuple[int, str]]] = {}
        self._lock = threading.Lock()

    def scan(self, contig_seq: str, contig_index: int, offset: int, end: int, buf: Any) -> None:
        """Map one segment; remember the window of every gene it touches (thread-safe)."""
        found = []
        for h in self.aligner.map(contig_seq[offset:end], buf=buf):
            if h.strand >= 0:
                lo, hi = h.q_st - h.r_st, h.q_en + (h.ctg_len - h.r_en)
            else:
                lo, hi = h.q_st - (h.ctg_len - h.r_en), h.q_en + h.r_st
            lo = max(0, offset + lo - WINDOW_MARGIN)
            hi = min(len(contig_seq), offset + hi + WINDOW_MARGIN)
            found.append((lo, contig_seq[lo:hi]))
        if found:
            with self._lock:
                self._pieces.setdefault(contig_index, []).extend(found)

    def windows(self) -> Iterable[tuple[int, int, str]]:
        """Merged windows per contig: (contig index, start, sequence)."""
        for cidx, pieces in self._pieces.items():
            merged: list[tuple[int, str]] = []
            for lo, seq in sorted(pieces):
                if merged and lo <= merged[-1][0] + len(merged[-1][1]):
                    mlo, mseq = merged[-1]
                    tail = seq[mlo + len(mseq) - lo :]
                    merged[-1] = (mlo, mseq + tail)
                else:
                    merged.append((lo, seq))
            for lo, seq in merged:
                yield cidx, lo, seq

    def finish(self, contig_names: list[str]) -> PointResult:
        alignments = [a for cidx, lo, seq in self.windows() for a in self._align(seq, lo, contig_names[cidx])]
        return call(self.species, alignments)

    def _align(self, window: str, lo: int, contig: str) -> list[Alignment]:
        out = []
        for h in self.aligner.map(window, cs=True):
            gene = self.templates.get(h.ctg)
            if gene is None or not h.cs:
                continue
            out.append(_alignment(gene, h, window, lo, contig))
        return out


def _alignment(gene: PointGene, h: Any, window: str, lo: int, contig: str) -> Alignment:
    """The gene's copy in a window: BLAST's own alignment (:mod:`blastalign`, started from
    the first exact run of a word's length in minimap2's hit, so gaps sit where ResFinder's
    BLAST puts them), or minimap2's `cs` when the hit has no such run; then extended
    ungapped to the gene ends."""
    plus = h.strand >= 0
    oriented = window if plus else revcomp(window)
    qs = h.q_st if plus else len(window) - h.q_en
    word = _first_word(h.cs, h.r_st, qs)
    if word is not None:
        g = blastalign.align(oriented.upper(), gene.sequence.upper(), word)
        return _gapped(gene, g.subject_start, g.query_start, g.subject, g.query, oriented, plus, lo, contig)
    ref: list[str] = []
    qry: list[str] = []
    r, q = h.r_st, qs
    for op in _CS.findall(h.cs):
        if op[0] == ":":
            k = int(op[1:])
            ref.append(gene.sequence[r : r + k])
            qry.append(oriented[q : q + k])
            r, q = r + k, q + k
        elif op[0] == "*":
            ref.append(gene.sequence[r])
            qry.append(oriented[q])
            r, q = r + 1, q + 1
        elif op[0] == "+":
            k = len(op) - 1
            ref.append("-" * k)
            qry.append(oriented[q : q + k])
            q += k
        elif op[0] == "-":
            k = len(op) - 1
            ref.append(gene.sequence[r : r + k])
            qry.append("-" * k)
            r += k
    return _gapped(gene, h.r_st, qs, "".join(ref), "".join(qry), oriented, plus, lo, contig)


def _first_word(cs: str, r: int, q: int) -> tuple[int, int] | None:
    """(query, gene) offsets of the first exact run of BLAST's word size in a `cs` string."""
    for op in _CS.findall(cs):
        if op[0] == ":":
            k = int(op[1:])
            if k >= blastalign.WORD:
                return q, r
            r, q = r + k, q + k
        elif op[0] == "*":
            r, q = r + 1, q + 1
        elif op[0] == "+":
            q += len(op) - 1
        elif op[0] == "-":
            r += len(op) - 1
    return None


def _edge_score(ref: str, qry: str) -> int:
    """Megablast's score of an ungapped stretch (match 1, mismatch -2)."""
    return sum(1 if a == b else -2 for a, b in zip(ref.upper(), qry.upper(), strict=True))


def _gapped(
    gene: PointGene, r_st: int, qs: int, ref: str, qry: str, oriented: str, plus: bool, lo: int, contig: str
) -> Alignment:
    """An Alignment from gapped strings starting at gene offset `r_st` and oriented-window
    offset `qs`, extended without gaps towards a gene end the contig reaches."""
    n = len(oriented)

    def contig_pos(i: int) -> int:  # oriented index -> 1-based contig position
        return lo + (i if plus else n - 1 - i) + 1

    pos: list[int] = []
    q = qs
    for base in qry:
        if base == "-":
            pos.append(contig_pos(max(q - 1, 0)))
        else:
            pos.append(contig_pos(q))
            q += 1
    r = r_st + len(ref) - ref.count("-")
    # Where the contig holds the rest of the gene, up to EDGE_EXTEND bases. A part of a gene
    # that a contig edge cuts is read as BLAST aligned it (ResFinder reads each partial hit
    # so): the few bases up to the contig edge join only when they score no less (BLAST's
    # alignment ends at the edge then, e.g. a 2-base match run after a mismatch).
    if qs >= r_st:
        left = min(r_st, EDGE_EXTEND)
    else:
        left = qs if _edge_score(gene.sequence[r_st - qs : r_st], oriented[:qs]) >= 0 else 0
    if n - q >= len(gene.sequence) - r:
        right = min(len(gene.sequence) - r, EDGE_EXTEND)
    else:
        right = n - q if _edge_score(gene.sequence[r : r + n - q], oriented[q:]) >= 0 else 0
    ref_s = gene.sequence[r_st - left : r_st] + ref + gene.sequence[r : r + right]
    qry_s = oriented[qs - left : qs] + qry + oriented[q : q + right]
    positions = [contig_pos(qs - left + j) for j in range(left)] + pos + [contig_pos(q + j) for j in range(right)]
    return Alignment(gene, contig, r_st - left, ref_s, qry_s.upper(), tuple(positions), "+" if plus else "-")


# ----------------------------------------------------------------------------- calling


def call(species: SpeciesDB, alignments: list[Alignment]) -> PointResult:
    """Gene thresholds, then the known mutations of every copy that passes."""
    result = PointResult(species.key)
    kept = _best_per_locus([a for a in alignments if a.identity >= MIN_IDENTITY])
    by_template: dict[str, list[Alignment]] = {}
    for a in kept:
        by_template.setdefault(a.gene.template, []).append(a)
    for template, copies in sorted(by_template.items()):
        gene = copies[0].gene
        covered = _covered(copies)
        cols = sum(len(a.ref) for a in copies)
        identity = sum(a.matches for a in copies) / cols if cols else 0.0
        coverage = covered / len(gene.sequence)
        called = identity >= MIN_IDENTITY and coverage >= MIN_COVERAGE
        result.genes.append(
            GeneCall(gene.display, template, round(identity * 100, 2), round(coverage * 100, 2), len(copies), called)
        )
        if not called:
            continue
        seen: set[tuple[str, int, str]] = set()
        for a in sorted(copies, key=lambda a: (a.contig, a.contig_start)):
            for m in differences(a):
                found = _known(species, gene, a, m)
                if found is not None and (m.name, m.position, a.contig) not in seen:
                    seen.add((m.name, m.position, a.contig))
                    result.mutations.append(found)
    return result


def _score(a: Alignment) -> float:
    return a.identity * (a.ref_end - a.ref_start) / len(a.gene.sequence)


def _best_per_locus(alignments: list[Alignment]) -> list[Alignment]:
    """One alignment per contig locus: the best-scoring gene/template there (ResFinder
    keeps the best hit where hits of different genes overlap on a contig)."""
    kept: list[Alignment] = []
    for a in sorted(alignments, key=lambda a: (-_score(a), a.gene.template, a.contig, a.contig_start)):
        clash = any(
            k.contig == a.contig and min(k.contig_end, a.contig_end) - max(k.contig_start, a.contig_start) > 30
            for k in kept
        )
        if not clash:
            kept.append(a)
    return kept


def _covered(copies: list[Alignment]) -> int:
    spans = sorted((a.ref_start, a.ref_end) for a in copies)
    total, cur_lo, cur_hi = 0, -1, -1
    for lo, hi in spans:
        if lo > cur_hi:
            total += max(0, cur_hi - cur_lo)
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    return total + max(0, cur_hi - cur_lo)


@dataclass
class _Events:
    """An alignment as per-reference-position facts."""

    bases: dict[int, str] = field(default_factory=dict)  # ref pos -> query base
    where: dict[int, int] = field(default_factory=dict)  # ref pos -> contig position
    deletions: dict[int, str] = field(default_factory=dict)  # first ref pos -> deleted bases
    insertions: dict[int, tuple[str, int]] = field(default_factory=dict)  # after ref pos -> (bases, contig pos)


def _events(a: Alignment) -> _Events:
    ev = _Events()
    r = a.ref_start
    del_start = ins_after = None
    for rb, qb, cp in zip(a.ref, a.query, a.positions, strict=False):
        if rb == "-":
            after = r - 1
            if ins_after == after:
                bases, first = ev.insertions[after]
                ev.insertions[after] = (bases + qb, first)
            else:
                ev.insertions[after] = (qb, cp)
                ins_after = after
            continue
        ins_after = None
        if qb == "-":
            if del_start is not None and del_start + len(ev.deletions[del_start]) == r:
                ev.deletions[del_start] += rb
            else:
                del_start = r
                ev.deletions[r] = rb
            ev.where[r] = cp
        else:
            del_start = None
            ev.bases[r] = qb
            ev.where[r] = cp
        r += 1
    return ev


def differences(a: Alignment) -> list[Mutation]:
    """Every difference of one copy, named as PointFinder names them: rRNA and promoter
    bases from the per-position view, codons by PointFinder's frame-paired reading."""
    gene, ev = a.gene, _events(a)
    if gene.rna:
        return _nucleotide_diffs(gene.sequence, ev, 0, len(gene.sequence), lambda i: i + 1, "r.", False)
    out: list[Mutation] = []
    p, col, start = gene.promoter_length, 0, a.ref_start + 1
    if p:
        out += _nucleotide_diffs(gene.sequence, ev, 0, p, lambda i: i - p, "n.", True)
        if a.ref_start < p:  # the coding part starts where the promoter's last base is passed
            seen = a.ref_start
            while col < len(a.ref) and seen < p:
                seen += a.ref[col] != "-"
                col += 1
            start = 1
        else:
            start = a.ref_start - p + 1
    return out + _read_codons(a.ref[col:], a.query[col:], start, lambda c: a.positions[col + c])


def _nucleotide_diffs(
    seq: str, ev: _Events, lo: int, hi: int, number: Any, prefix: str, promoter: bool
) -> list[Mutation]:
    out: list[Mutation] = []

    def mut(kind: str, pos: int, name: str, ref: str, alt: str, where: int, nuc_pos: int) -> Mutation:
        return Mutation(
            kind, pos, name, ref, alt, nucleotide=True, promoter=promoter, contig_position=where, nuc_position=nuc_pos
        )

    for i in range(lo, hi):
        if i in ev.bases and ev.bases[i] != seq[i]:
            pos = number(i)
            out.append(mut("sub", pos, f"{prefix}{pos}{seq[i]}>{ev.bases[i]}", seq[i], ev.bases[i], ev.where[i], pos))
        if i in ev.deletions:
            bases = ev.deletions[i][: hi - i]
            s, e = number(i), number(i + len(bases) - 1)
            name = f"{prefix}{s}del{bases}" if len(bases) == 1 else f"{prefix}{s}_{e}del{bases}"
            out.append(mut("del", s, name, bases, "-" * len(bases), ev.where[i], e))
        if i in ev.insertions and i + 1 < hi:
            bases, where = ev.insertions[i]
            s, e = number(i), number(i + 1)
            out.append(mut("ins", s, f"{prefix}{s}_{e}ins{bases}", "-" * len(bases), bases, where, e))
    return out


# ----------------------------------------------------------------------------- codon reading
# PointFinder reads a gene codon by codon along the gapped alignment, keeping one offset
# into the reference string and one into the genome string. At a gap it takes the
# in-frame stretch around the indel from each side (`_inframe`), names it, and moves both
# offsets past it, so after an indel the codons of the two sequences are paired by their
# reading frames, not by alignment columns; when a second indel restores the frame, the
# name says so. The functions below follow that reading (ResFinder 4.3's
# `find_codon_mismatches`), so the same alignment yields the same mutation names.


def _inframe(seq: str, needed: int = 3) -> str:
    """The prefix of a gapped string holding `needed` bases, or a clean gap of >= 3."""
    taken: list[str] = []
    bases = 0
    for ch in seq:
        if ch != "-":
            if len(taken) >= 3 and all(c == "-" for c in taken):
                return "".join(taken)
            bases += 1
        taken.append(ch)
        if bases == needed:
            break
    return "".join(taken)


def _aa_string(bases: str) -> str:
    return "".join(translate(bases[i : i + 3]) if len(bases[i : i + 3]) == 3 else "?" for i in range(0, len(bases), 3))


def _codon_at(ref: str, codon_no: int, offset: int) -> str:
    plain = ref.replace("-", "")
    start = (codon_no - 1) * 3 - offset
    return plain[start : start + 3] if start >= 0 else ""


def _indel_name(ref: str, ref_rf: str, qry_rf: str, codon_no: int, kind: str, offset: int) -> tuple[str, str, str]:
    """(name, reference amino acids, alternative amino acids) of an indel, HGVS-like as
    PointFinder writes it."""
    ref_nucs, qry_nucs = ref_rf.replace("-", ""), qry_rf.replace("-", "")
    aa_ref, aa_alt = _aa_string(ref_nucs), _aa_string(qry_nucs)
    gapped = ref_rf if kind == "ins" else qry_rf
    gaps = gapped.count("-")
    if gaps < 3 and len(ref_nucs) == 3 and len(qry_nucs) == 3:
        name = f"p.{translate(ref_nucs)}{codon_no}{translate(qry_nucs)}"
    elif len(gapped) == gaps and kind == "ins":
        first = codon_no if len(ref_nucs) == 3 else codon_no - 1
        name = (
            f"p.{translate(_codon_at(ref, first, offset))}{first}_"
            f"{translate(_codon_at(ref, codon_no, offset))}{codon_no}ins{aa_alt}"
        )
        aa_ref = "ins"
    else:
        what = "del" if len(gapped) == gaps else "delins"
        name = f"p.{translate(_codon_at(ref, codon_no, offset))}{codon_no}"
        if what == "del" and len(ref_rf) == 3:
            name += "del"
        else:
            last = codon_no + -(-len(ref_nucs) // 3) - 1
            name += f"_{translate(_codon_at(ref, last, offset))}{last}{what}" + (aa_alt if what == "delins" else "")
        if what == "del":
            aa_alt = "del"
    if gaps % 3:
        name += " - Frameshift"
    return name, aa_ref, aa_alt


def _indels(ref: str, qry: str, start: int) -> list[tuple[str, int, int, str]]:
    """Every gap as (kind, codon, reference position, bases), in reading order."""
    found = []
    for kind, gapped, other in (("ins", ref, qry), ("del", qry, ref)):
        for m in re.finditer(r"-+", gapped):
            pos = len(ref[: m.start()].replace("-", "")) + start
            found.append((kind, -(-pos // 3), pos, other[m.start() : m.end()]))
    return sorted(found, key=lambda x: (x[1], x[2]))


def _read_codons(ref: str, qry: str, start: int, where: Any) -> list[Mutation]:  # noqa: C901 - ResFinder's codon walk, kept step for step
    """Codon changes of a coding alignment starting at gene position `start` (1-based);
    `where(column)` gives the contig position of a genome column."""
    skip = (3 - (start - 1) % 3) % 3  # the first whole codon
    ref, qry, start = ref[skip:], qry[skip:], start + skip
    indels = _indels(ref, qry, start)
    out: list[Mutation] = []
    codon_no = (start - 1) // 3
    s_shift = q_shift = used = 0
    for index in range(0, len(ref), 3):
        codon_no += 1
        s_i, q_i = index + s_shift, index + q_shift
        if len(ref[s_i:].replace("-", "")) < 3:
            break  # no whole reference codon left
        ref_codon, qry_codon = ref[s_i : s_i + 3], qry[q_i : q_i + 3]
        if ref_codon == qry_codon:
            continue
        if ("-" in ref_codon or "-" in qry_codon) and used < len(indels):
            kind, indel_codon, pos, bases = indels[used]
            used += 1
            if kind == "ins":
                ref_rf = _inframe(ref[s_i:], 3)
                qry_rf = _inframe(qry[q_i:], len(ref_rf) // 3 * 3)
            else:
                qry_rf = _inframe(qry[q_i:], 3)
                ref_rf = _inframe(ref[s_i:], len(qry_rf) // 3 * 3)
            name, aa_ref, aa_alt = _indel_name(ref, ref_rf, qry_rf, codon_no, kind, start - 1)
            before = abs(s_shift - q_shift)
            s_shift += len(ref_rf) - 3
            q_shift += len(qry_rf) - 3
            after = abs(s_shift - q_shift)
            if before and after % 3 == 0:  # this indel restores the frame of an earlier one
                if s_shift > q_shift:
                    longer = _inframe(
                        qry[q_i:], len(ref_rf) + after
                    )  # PointFinder: the whole stretch, not whole codons
                    q_shift += len(longer) - len(qry_rf)
                    qry_rf = longer
                elif q_shift > s_shift:
                    longer = _inframe(ref[s_i:], len(qry_rf) + after)
                    s_shift += len(longer) - len(ref_rf)
                    ref_rf = longer
                name, aa_ref, aa_alt = _indel_name(ref, ref_rf, qry_rf, codon_no, kind, start - 1)
                if "Frameshift" in name:
                    name = name.split("-")[0] + "- Frame restored"
            out.append(
                Mutation(
                    kind,
                    indel_codon,
                    name,
                    ref_rf,
                    qry_rf,
                    aa_ref,
                    aa_alt,
                    contig_position=where(skip + q_i),
                    nuc_position=pos,
                    indel=bases,
                )
            )
            extra = len(re.findall(r"-\w", ref_rf)) + len(re.findall(r"-\w", qry_rf)) - 1
            used += max(0, extra)  # further indels inside this stretch are part of its name
            if kind == "del":
                codon_no += (len(ref_rf) - 3) // 3
            elif ref_rf.count("-") == len(ref_rf):
                codon_no -= 1
        elif "-" not in ref_codon and "-" not in qry_codon:
            aa_ref, aa_alt = translate(ref_codon), translate(qry_codon)
            if aa_ref == aa_alt:
                continue
            name = f"p.{aa_ref}{codon_no}{aa_alt}"
            stop = aa_alt == "*"
            if stop:
                name += " - Premature stop codon"
            out.append(
                Mutation(
                    "sub",
                    codon_no,
                    name,
                    ref_codon,
                    qry_codon,
                    aa_ref,
                    aa_alt,
                    contig_position=where(skip + q_i),
                    nuc_position=codon_no,
                )
            )
            if stop:
                break
    return sorted(out, key=lambda m: m.position)


def _known(species: SpeciesDB, gene: PointGene, a: Alignment, m: Mutation) -> MutationCall | None:
    """The database's rows for this change (PointFinder's lookup); None when unknown."""
    rows: list[PointRow] = []
    positions = {m.position} if m.kind == "sub" else {m.position, m.nuc_position}
    if m.kind == "del":  # any listed deletion inside the deleted stretch, in the same frame
        deleted = (m.indel or m.ref).replace("-", "").upper()
        for i in range(len(deleted)):
            for row in species.rows_at(gene.gene, "del", m.nuc_position + i):
                if any(
                    deleted[i : i + len(alt)] == alt and len(deleted) % 3 == len(alt) % 3 for alt in row.alternatives
                ):
                    rows.append(row)
    for pos in positions if m.kind != "del" else ():
        for row in species.rows_at(gene.gene, m.kind, pos):
            if (m.lookup.upper() in row.alternatives or m.alt.upper() in row.alternatives) and row not in rows:
                rows.append(row)
    stop_rows = species.stop_rows(gene.gene) if m.alt_aa == "*" else []
    if not rows and not stop_rows:
        return None
    drugs: dict[str, None] = {}
    pmids: dict[str, None] = {}
    for row in rows + stop_rows:
        drugs.update(dict.fromkeys(row.antibiotics))
        pmids.update(dict.fromkeys(row.pmids_for(m.lookup.upper()) or row.pmids[:1]))
    return MutationCall(
        gene.display, gene.template, m, a.contig, tuple(drugs), tuple(pmids), tuple(rows), tuple(stop_rows)
    )

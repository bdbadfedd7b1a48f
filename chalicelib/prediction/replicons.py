"""Plasmid replicons with PlasmidFinder's semantics, and where each resistance gene sits (design §20).

PlasmidFinder 3.0.3 on an assembly (blastn through cgecore's ``Blaster``) reports, per
database file (``enterobacteriales``, ``Inc18``, ...), every replicon sequence aligned with
identity >= 95 % (matches / alignment columns) over >= 60 % of its length; on one contig,
hits of one database file that overlap keep only the best by identity x coverage (two hits
at exactly the same place and identity are both kept). Hits from different files are not
compared. We do the same on minimap2 alignments (``typescan`` finds them).

Where a gene sits (``location``): a gene on a contig that carries a replicon is
``plasmid`` with the replicons' names; otherwise ``chromosome-like``. In a complete genome
that is the plasmid / chromosome split; in a draft, a plasmid contig without its replicon
reads chromosome-like, which is why the word is not "chromosome".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MIN_IDENTITY = 95.0
MIN_COVERAGE = 60.0


@dataclass(frozen=True)
class RepliconHit:
    """One replicon found on a contig (positions 1-based inclusive)."""

    name: str  # PlasmidFinder's name, e.g. IncFII(K)
    reference: str  # the database header, e.g. IncFII(K)_1__CP000648
    database: str  # the .fsa file (enterobacteriales, Inc18, ...)
    accession: str
    contig: str
    start: int
    end: int
    strand: str
    identity: float  # percent
    coverage: float  # percent of the replicon sequence
    reference_length: int
    alignment_length: int

    @property
    def score(self) -> float:
        return self.identity * self.coverage

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reference": self.reference,
            "accession": self.accession,
            "database": self.database,
            "contig": self.contig,
            "start": self.start,
            "end": self.end,
            "strand": self.strand,
            "identity": round(self.identity, 2),
            "coverage": round(self.coverage, 2),
        }


def passes(
    identity: float, coverage: float, min_identity: float = MIN_IDENTITY, min_coverage: float = MIN_COVERAGE
) -> bool:
    return identity >= min_identity and coverage >= min_coverage


def _shared(a: RepliconHit, b: RepliconHit) -> int:
    return min(a.end, b.end) - max(a.start, b.start) + 1


def resolve(hits: Iterable[RepliconHit]) -> list[RepliconHit]:
    """Best hit per overlapping group, per contig and database file (see module docstring);
    duplicates (one alignment seen twice) removed; sorted by contig order of appearance and position."""
    unique: dict[tuple[str, str, int, int, str], RepliconHit] = {}
    for h in hits:
        key = (h.reference, h.contig, h.start, h.end, h.strand)
        if key not in unique or h.score > unique[key].score:
            unique[key] = h
    ordered = sorted(unique.values(), key=lambda h: (-h.score, -h.alignment_length, h.reference, h.start))
    kept: list[RepliconHit] = []
    for h in ordered:
        clash = [k for k in kept if k.contig == h.contig and k.database == h.database and _shared(h, k) > 0]
        if not clash or all(
            (k.start, k.end) == (h.start, h.end) and k.identity == h.identity and k.coverage == h.coverage
            for k in clash
        ):
            kept.append(h)
    return sorted(kept, key=lambda h: (h.contig, h.start, h.reference))


def location(contig: str, replicons: Iterable[RepliconHit]) -> dict[str, Any]:
    """A gene's ``location``: ``{"kind": "plasmid", "replicons": [...]}`` when its contig carries
    a replicon, else ``{"kind": "chromosome-like", "replicons": []}``."""
    names = sorted({r.name for r in replicons if r.contig == contig})
    return {"kind": "plasmid" if names else "chromosome-like", "replicons": names}


def describe(location_: dict[str, Any]) -> str:
    """One line for tables: ``IncFII(K) contig`` or ``chromosome-like``."""
    if location_.get("kind") == "plasmid":
        return ", ".join(location_.get("replicons") or []) + " contig"
    return "chromosome-like"

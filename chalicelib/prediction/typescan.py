"""Typing in the genome job's one pass over the contigs: MLST loci and plasmid replicons (design §20).

One small minimap2 index holds a few representative alleles of every locus of every shipped
MLST scheme and every PlasmidFinder replicon sequence (~0.5 Mb). ``TypingSearch.scan`` maps
each genome segment against it, as the acquired-gene pass does, and keeps the contig
windows where a locus or a replicon lies (the whole reference's extent plus a margin, so a
locus is found whole even when the representative differs at its ends). ``finish`` then
types the chosen scheme(s) from the locus windows (``mlst``) and re-aligns the replicon
windows for PlasmidFinder's hits (``replicons``).

Why windows and not the alignments themselves: a segment edge may cut a locus; windows from
overlapping segments are merged, so each locus is looked at once, whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import mappy

from chalicelib.prediction import mlst, replicons
from chalicelib.prediction.mapindex import build_index
from chalicelib.prediction.mlst import MlstCall, Region
from chalicelib.prediction.replicons import RepliconHit
from chalicelib.prediction.typing_db import TypingDB, load_db

#: representative alleles per locus in the scan index
REPRESENTATIVES = 8
#: bases around a replicon's extent kept in its window
MARGIN = 50
#: minimap2: default seeds find replicons of ~115 bases at 95 % identity; best_n large because
#: dozens of similar replicon sequences (IncFII variants) and representatives share a locus
INDEX_OPTIONS: dict[str, Any] = {"k": 15, "w": 10, "best_n": 500, "min_chain_score": 25}
_MLST, _REP = "M", "R"
_SEP = "\x1f"


@dataclass
class TypingResult:
    """MLST calls (primary first), replicons, and what the data was."""

    mlst: list[MlstCall]
    plasmids: list[RepliconHit]
    database: dict[str, object]
    seconds: float = 0.0
    species: str | None = None

    def location(self, contig: str) -> dict[str, Any]:
        return replicons.location(contig, self.plasmids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mlst": [c.to_dict() for c in self.mlst],
            "plasmids": [p.to_dict() for p in self.plasmids],
            "typing_database": self.database,
        }


_LOCK = threading.Lock()
_INDEXES: dict[str, mappy.Aligner] = {}


def scan_records(db: TypingDB) -> list[tuple[str, str]]:
    """The scan index's references (named so they never clash with another database's names):
    the genome job adds them to its allele index, so one pass over the genome serves both."""
    records: list[tuple[str, str]] = []
    for scheme in db.schemes.values():
        for locus, name, seq in scheme.representatives(REPRESENTATIVES):
            records.append((_SEP.join((_MLST, scheme.name, locus, name)), seq))
    records += [(_SEP.join((_REP, r.header)), r.sequence) for r in db.replicons.values()]
    return records


def is_typing_reference(name: str) -> bool:
    """True for a reference name made by :func:`scan_records`."""
    return _SEP in name and name.split(_SEP, 1)[0] in (_MLST, _REP)


def scan_index(db: TypingDB) -> mappy.Aligner:
    """The scan index of ``db`` alone (built on first use, kept for the process)."""
    with _LOCK:
        aligner = _INDEXES.get(db.path)
        if aligner is None:
            aligner = build_index(scan_records(db), "the typing references", n_threads=2, **INDEX_OPTIONS)
            _INDEXES[db.path] = aligner
        return aligner


@dataclass
class TypingSearch:
    """Collects locus and replicon windows during the segment stream, then types."""

    db: TypingDB = field(default_factory=load_db)
    species: str | None = None

    def __post_init__(self) -> None:
        self.aligner = scan_index(self.db)
        self._windows: dict[tuple[str, ...], list[tuple[int, int, int, str]]] = {}
        self._lock = threading.Lock()
        self._seconds = 0.0

    def scan(self, contig_seq: str, contig_index: int, offset: int, end: int, buf: Any = None) -> None:
        """Map one segment with the typing index alone; keep the windows it touches (thread-safe)."""
        for h in self.aligner.map(contig_seq[offset:end], buf=buf):
            self.take(h, contig_seq, contig_index, offset)

    def take(self, h: Any, contig_seq: str, contig_index: int, offset: int) -> None:
        """Keep the window of one alignment of a segment (starting at ``offset``) to a typing
        reference, whichever index it came from (thread-safe)."""
        parts = tuple(h.ctg.split(_SEP))
        if parts[0] == _MLST:
            scheme = self.db.schemes[parts[1]]
            margin = max(MARGIN, scheme.max_length[parts[2]] - h.ctg_len + MARGIN)
            key: tuple[str, ...] = parts[:3]
        else:
            margin, key = MARGIN, (_REP,)
        if h.strand >= 0:
            lo, hi = h.q_st - h.r_st, h.q_en + (h.ctg_len - h.r_en)
        else:
            lo, hi = h.q_st - (h.ctg_len - h.r_en), h.q_en + h.r_st
        lo, hi = max(0, offset + lo - margin), min(len(contig_seq), offset + hi + margin)
        window = (contig_index, lo, hi, contig_seq[lo:hi])
        with self._lock:
            self._windows.setdefault(key, []).append(window)

    def _merged(self, key: tuple[str, ...], contig_names: list[str]) -> list[Region]:
        merged: list[tuple[int, int, str]] = []  # contig index, start, sequence
        for cidx, lo, _hi, seq in sorted(self._windows.get(key, []), key=lambda w: (w[0], w[1])):
            if merged and merged[-1][0] == cidx and lo <= merged[-1][1] + len(merged[-1][2]):
                mc, mlo, mseq = merged[-1]
                merged[-1] = (mc, mlo, mseq + seq[mlo + len(mseq) - lo :])
            else:
                merged.append((cidx, lo, seq))
        return [Region(contig_names[c], lo, seq) for c, lo, seq in merged]

    def finish(self, contig_names: list[str], schemes: Sequence[str] | None = None) -> TypingResult:
        """Type the collected windows: MLST of the species' scheme(s) (or exactly ``schemes``),
        PlasmidFinder's replicons."""
        t0 = time.perf_counter()
        regions = {(key[1], key[2]): self._merged(key, contig_names) for key in list(self._windows) if key[0] == _MLST}
        if schemes is None:
            calls = mlst.select(self.db, regions, self.species)
        else:
            calls = [
                mlst.type_scheme(
                    self.db.schemes[s], {locus: r for (sch, locus), r in regions.items() if sch == s}, "requested"
                )
                for s in schemes
            ]
        hits: list[RepliconHit] = []
        for region in self._merged((_REP,), contig_names):
            hits.extend(self._replicon_hits(region))
        self._seconds += time.perf_counter() - t0
        return TypingResult(calls, replicons.resolve(hits), self.db.versions(), self._seconds, self.species)

    def _replicon_hits(self, region: Region) -> list[RepliconHit]:
        out: list[RepliconHit] = []
        for h in self.aligner.map(region.seq):
            parts = h.ctg.split(_SEP)
            if parts[0] != _REP:
                continue
            rep = self.db.replicons[parts[1]]
            identity = 100.0 * h.mlen / h.blen if h.blen else 0.0
            coverage = 100.0 * (h.r_en - h.r_st) / h.ctg_len
            if not replicons.passes(identity, coverage):
                continue
            out.append(
                RepliconHit(
                    name=rep.name,
                    reference=rep.header,
                    database=rep.database,
                    accession=rep.accession,
                    contig=region.contig,
                    start=region.offset + h.q_st + 1,
                    end=region.offset + h.q_en,
                    strand="+" if h.strand >= 0 else "-",
                    identity=identity,
                    coverage=coverage,
                    reference_length=h.ctg_len,
                    alignment_length=h.blen,
                )
            )
        return out


def type_contigs(
    contigs: Iterable[tuple[str, str]],
    species: str | None = None,
    *,
    db: TypingDB | None = None,
    segment_length: int = 100_000,
    segment_overlap: int = 5_000,
    schemes: Sequence[str] | None = None,
) -> TypingResult:
    """Type an assembly on its own (benchmarks, tools): the same scan over the same segments
    the genome job cuts, then :meth:`TypingSearch.finish`."""
    search = TypingSearch(db or load_db(), species)
    names: list[str] = []
    buf = mappy.ThreadBuffer()
    step = segment_length - segment_overlap
    for name, seq in contigs:
        names.append(name)
        start = 0
        while True:
            end = min(len(seq), start + segment_length)
            search.scan(seq, len(names) - 1, start, end, buf)
            if end >= len(seq):
                break
            start += step
    return search.finish(names, schemes)

"""Acquired-resistance gene prediction: minimap2 (mappy) alignment of genome segments
against the ResFinder alleles, with ResFinder's calling semantics.

Design (why it looks like this):

* The allele index (~3,100 sequences, ~3 Mb) is built once per process
  (:func:`get_aligner`) and reused by every job a warm Lambda container serves.
  ``mappy.Aligner(seq=...)`` only indexes a single sequence, so the alleles are
  written to a temporary FASTA that is deleted right after the build.
* Contigs are consumed lazily from any iterable of ``(id, sequence)`` (e.g. a
  :class:`chalicelib.prediction.fasta.FastaReader`) and cut into segments of
  ``segment_length`` bases with ``segment_overlap`` shared bases.  Segments are
  aligned in batches of ``batch_size`` (a contig shorter than a segment counts as its
  share of one, so a draft of many contigs takes few batches); after each batch ``on_batch`` receives a
  :class:`BatchProgress` and may cancel.  Only the contigs of the current batch
  are held in memory.
* Hits: identity = matching bases / alignment columns (BLAST/ResFinder
  "identity", mappy ``mlen/blen``); coverage = aligned reference span / allele
  length.  A hit is called when identity >= ``min_identity`` and coverage >=
  ``min_coverage``.
* Segment boundaries: a gene no longer than ``segment_overlap`` lies entirely in
  some segment.  A longer gene crossing a boundary shows up as clipped partial
  alignments touching the segment edge; for those, a window of the contig around
  the locus (extended by the allele length on both sides) is re-aligned, so the
  gene is found whole whatever its length (even with overlap 0 or genes longer
  than a segment).  Copies of one alignment found in two overlapping segments,
  and partial copies, are merged by the locus resolution.
* Locus resolution follows ResFinder: hits overlapping by more than
  ``ALLOWED_OVERLAP`` (30) contig bases are one locus and only the best allele is
  kept (score identity*coverage, ties: longer alignment, higher identity, allele
  name).  As in ResFinder this is done per class database of ``config`` (an
  aminoglycoside allele does not hide a quinolone allele at the same locus, e.g.
  aac(6')-Ib vs aac(6')-Ib-cr, which confer different phenotypes); an allele
  listed in several class files is reported once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import mappy

from chalicelib.jobs.params import NO_SPECIES, PredictParams
from chalicelib.prediction import pointfinder_db, typescan, typing_db
from chalicelib.prediction.mapindex import build_index
from chalicelib.prediction.pointfinder import PointSearch
from chalicelib.prediction.resfinder_db import Allele, ResfinderDB, load_db
from chalicelib.prediction.results import BatchProgress, Cancelled, GeneHit, Prediction, conclude

ALLOWED_OVERLAP = 30
# Bases of slack when deciding that an alignment was cut by a segment edge.
EDGE_SLACK = 50
# mappy settings: minimap2's default seeds (k=15, w=10) find alleles with randomly
# placed divergence down to ~88% identity (tests check 91%), and cost half the
# time of k=13.  best_n caps secondary alignments per *query*, i.e. per segment
# with all its loci, so it is large: every near-identical allele of a locus
# (e.g. ~200 blaTEM) must compete, or a class's best allele can be dropped.
# Limitation: k-mer seeding can miss a gene whose differences are spread so evenly
# that no 15-mer survives (~1 difference every <15 bases); real genes rarely are.
MAPPY_OPTIONS: dict[str, Any] = {"k": 15, "w": 10, "best_n": 2000}

# mappy releases the GIL while aligning, so segments of a batch are aligned by a
# small thread pool (Lambda with >= 1,769 MB has 2 vCPUs).
MAP_THREADS = max(1, min(2, os.cpu_count() or 1))


# --------------------------------------------------------------------------- index

_INDEX_LOCK = threading.Lock()
_INDEX: dict[tuple[str, str, str], tuple[mappy.Aligner, float]] = {}


def get_aligner(db: ResfinderDB | None = None, typing: typing_db.TypingDB | None = None) -> mappy.Aligner:
    """The allele index for ``db`` (with ``typing``'s references when given, as genome jobs
    that type use it), built on first use and cached for the process."""
    return _aligner_and_seconds(db or load_db(), typing)[0]


def index_build_seconds(db: ResfinderDB | None = None) -> float:
    """Seconds the (cached) index build took, for benchmarks and logs."""
    return _aligner_and_seconds(db or load_db())[1]


def clear_index_cache() -> None:
    """Drop cached indexes (tests and benchmarks measuring a cold build)."""
    with _INDEX_LOCK:
        _INDEX.clear()


def _aligner_and_seconds(db: ResfinderDB, typing: typing_db.TypingDB | None = None) -> tuple[mappy.Aligner, float]:
    """The allele index, with the typing references in it when ``typing`` is given (one pass
    over the genome serves both; see ``typescan``)."""
    key = (db.path, db.version, typing.path if typing else "")
    with _INDEX_LOCK:
        cached = _INDEX.get(key)
        if cached is None:
            t0 = time.perf_counter()
            extra = typescan.scan_records(typing) if typing else []
            aligner = _build_aligner(db.alleles.values(), extra)
            cached = (aligner, time.perf_counter() - t0)
            _INDEX[key] = cached
        return cached


def _build_aligner(alleles: Iterable[Allele], extra: list[tuple[str, str]] | None = None) -> mappy.Aligner:
    records = [(a.name, a.sequence) for a in alleles] + (extra or [])
    return build_index(records, "the ResFinder alleles", n_threads=2, **MAPPY_OPTIONS)


# --------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class _Segment:
    contig: str
    contig_seq: str  # reference to the whole contig (no copy) for boundary rescue
    contig_index: int
    offset: int  # 0-based start on the contig
    end: int  # 0-based exclusive end


def segment_starts(length: int, segment_length: int, segment_overlap: int) -> list[int]:
    """0-based starts of the segments covering a contig of ``length`` bases."""
    if length <= segment_length:
        return [0]
    step = segment_length - segment_overlap
    starts = list(range(0, length - segment_overlap, step))
    # The last start must leave its segment ending at the contig end.
    while starts and starts[-1] + segment_length < length:
        starts.append(starts[-1] + step)
    return starts


@dataclass
class _Cand:
    allele: str
    contig_index: int
    start0: int
    end0: int
    strand: str
    identity: float
    coverage: float
    blen: int
    r_st: int
    r_en: int

    @property
    def score(self) -> float:
        return self.identity * self.coverage


def _to_cand(h: Any, seg_contig_index: int, offset: int) -> _Cand:
    return _Cand(
        allele=h.ctg,
        contig_index=seg_contig_index,
        start0=offset + h.q_st,
        end0=offset + h.q_en,
        strand="+" if h.strand >= 0 else "-",
        identity=h.mlen / h.blen if h.blen else 0.0,
        coverage=(h.r_en - h.r_st) / h.ctg_len if h.ctg_len else 0.0,
        blen=h.blen,
        r_st=h.r_st,
        r_en=h.r_en,
    )


def _clipped_by_edge(h: Any, seg: _Segment, contig_len: int) -> bool:
    """True when the alignment may continue beyond the segment edge (gene crosses a boundary)."""
    seg_len = seg.end - seg.offset
    if h.strand >= 0:
        miss_left, miss_right = h.r_st, h.ctg_len - h.r_en
    else:
        miss_left, miss_right = h.ctg_len - h.r_en, h.r_st
    if seg.offset > 0 and miss_left > 0 and h.q_st <= miss_left + EDGE_SLACK:
        return True
    if seg.end < contig_len and miss_right > 0 and seg_len - h.q_en <= miss_right + EDGE_SLACK:
        return True
    return False


# --------------------------------------------------------------------------- predict


def predict(  # noqa: C901 - the streaming loop: segments, batches, progress and cancel share its state
    contigs: Iterable[tuple[str, str]],
    params: PredictParams | None = None,
    on_batch: Callable[[BatchProgress], bool | None] | None = None,
    *,
    db: ResfinderDB | None = None,
    input_fraction: Callable[[], float | None] | None = None,
    point_db: pointfinder_db.PointFinderDB | None = None,
    typing: bool | None = None,
    typing_species: str | None = None,
) -> Prediction:
    """Predict acquired resistance genes in ``contigs`` (iterable of ``(id, sequence)``).

    ``on_batch`` is called after every batch of segments; returning ``False``
    (exactly False; None continues) raises :class:`Cancelled`.  ``input_fraction``
    (optional) returns the fraction of the input consumed so far (e.g.
    ``lambda: reader.fraction(size)``) and makes ``BatchProgress.fraction``
    meaningful.  Errors raised by ``contigs`` (e.g. ``fasta.InputError``)
    propagate unchanged.  With ``params.point_mutations`` the species' PointFinder genes
    are searched in the same pass (:class:`chalicelib.prediction.pointfinder.PointSearch`).
    Typing (MLST, replicons; :mod:`chalicelib.prediction.typescan`) rides the same pass:
    ``typing=True`` requires the typing data, None types when it is installed, False never;
    the scheme follows ``typing_species`` (a species name), else the job's species.
    """
    params = params or PredictParams()
    db = db or load_db()
    search: PointSearch | None = None
    point_version: str | None = None
    if params.point_mutations and params.species != NO_SPECIES:
        pdb = point_db or pointfinder_db.load_db()
        search, point_version = PointSearch(pdb.load(params.species)), pdb.version
    t0 = time.perf_counter()
    tdb = _typing_db(typing)
    typing_search = None
    if tdb is not None:
        species = typing_species or (params.species if params.species != NO_SPECIES else None)
        typing_search = typescan.TypingSearch(tdb, species)
    aligner, index_seconds = _aligner_and_seconds(db, tdb)
    min_id, min_cov = float(params.min_identity), float(params.min_coverage)
    tls = threading.local()

    def local_buffer() -> mappy.ThreadBuffer:
        # mappy needs one ThreadBuffer per thread; reusing it avoids re-allocation per call.
        b = getattr(tls, "buf", None)
        if b is None:
            b = tls.buf = mappy.ThreadBuffer()
        return b

    def map_segment(seg: _Segment) -> tuple[list[_Cand], list[tuple[int, int]]]:
        """Passing hits of one segment plus contig windows to re-align (boundary genes)."""
        found: list[_Cand] = []
        windows: list[tuple[int, int]] = []
        contig_len = len(seg.contig_seq)
        for h in aligner.map(seg.contig_seq[seg.offset : seg.end], buf=local_buffer()):
            if typing_search is not None and typescan.is_typing_reference(h.ctg):
                typing_search.take(h, seg.contig_seq, seg.contig_index, seg.offset)
                continue
            if _clipped_by_edge(h, seg, contig_len):
                pad = h.ctg_len + EDGE_SLACK
                windows.append((max(0, seg.offset + h.q_st - pad), min(contig_len, seg.offset + h.q_en + pad)))
            c = _to_cand(h, seg.contig_index, seg.offset)
            if c.identity >= min_id and c.coverage >= min_cov:
                found.append(c)
        if search is not None:
            search.scan(seg.contig_seq, seg.contig_index, seg.offset, seg.end, local_buffer())
        return found, windows

    contig_names: list[str] = []
    state: dict[str, int] = {"bases_seen": 0, "segments_seen": 0}
    frac_at_read = [0.0]  # the input fraction read when the current contig began

    def segments() -> Iterator[_Segment]:
        for cid, seq in contigs:
            idx = len(contig_names)
            contig_names.append(cid)
            state["bases_seen"] += len(seq)
            if input_fraction is not None:
                frac_at_read[0] = input_fraction() or 0.0
            for st in segment_starts(len(seq), params.segment_length, params.segment_overlap):
                state["segments_seen"] += 1
                yield _Segment(cid, seq, idx, st, min(len(seq), st + params.segment_length))

    cands: list[_Cand] = []
    seg_iter = segments()
    segments_done = bases_done = batch_no = 0
    last_fraction = 0.0
    # One segment of look-ahead tells whether a batch is the last one.
    pending = next(seg_iter, None)
    with ThreadPoolExecutor(max_workers=MAP_THREADS) as pool:
        while pending is not None:
            # `batch_size` segments a batch, a contig shorter than a segment counting as its share
            # of one: a draft of hundreds of small contigs takes about as many batches (progress
            # writes, pool round trips) as the complete genome.
            batch: list[_Segment] = [pending]
            room = params.batch_size - _weight(pending, params.segment_length)
            full = False
            while room > 1e-9:
                nxt = next(seg_iter, None)
                if nxt is None:
                    break
                batch.append(nxt)
                room -= _weight(nxt, params.segment_length)
            else:
                full = True
            pending = next(seg_iter, None) if full else None
            finished = pending is None
            rescue: dict[int, list[tuple[int, int]]] = {}
            seqs: dict[int, str] = {}
            for seg, (found, windows) in zip(batch, pool.map(map_segment, batch), strict=False):
                cands.extend(found)
                if windows:
                    rescue.setdefault(seg.contig_index, []).extend(windows)
                    seqs[seg.contig_index] = seg.contig_seq
                segments_done += 1
                bases_done += seg.end - seg.offset - (params.segment_overlap if seg.offset > 0 else 0)
            for cidx, merged in rescue.items():
                for lo, hi in _merge_windows(merged):
                    for h in aligner.map(seqs[cidx][lo:hi], buf=local_buffer()):
                        if typescan.is_typing_reference(h.ctg):
                            continue
                        c = _to_cand(h, cidx, lo)
                        if c.identity >= min_id and c.coverage >= min_cov:
                            cands.append(c)
            batch_no += 1
            fraction: float | None = None
            if input_fraction is not None:
                if finished:
                    fraction = 1.0
                elif state["bases_seen"]:
                    fraction = frac_at_read[0] * min(1.0, bases_done / state["bases_seen"])
                fraction = max(last_fraction, min(1.0, fraction or 0.0))
                last_fraction = fraction
            progress = BatchProgress(
                batch=batch_no,
                segments_done=segments_done,
                segments_seen=state["segments_seen"],
                contigs_seen=len(contig_names),
                bases_done=min(bases_done, state["bases_seen"]),
                bases_seen=state["bases_seen"],
                hits=len(cands),
                elapsed=time.perf_counter() - t0,
                fraction=fraction,
                finished=finished,
            )
            if on_batch is not None and on_batch(progress) is False:
                raise Cancelled(progress)

    genes = _resolve(cands, db, contig_names)
    point = search.finish(contig_names) if search is not None else None
    typed = typing_search.finish(contig_names) if typing_search is not None else None
    return conclude(
        db,
        params,
        genes,
        point,
        search.species if search else None,
        started=t0,
        index_seconds=index_seconds,
        point_database_version=point_version,
        typing=typed,
        contigs=len(contig_names),
        bases=state["bases_seen"],
        segments=segments_done,
    )


def _typing_db(typing: bool | None) -> typing_db.TypingDB | None:
    """The typing data when the job types (``typing``: True required, None if installed)."""
    if typing is False:
        return None
    try:
        return typing_db.load_db()
    except typing_db.TypingDataError:
        if typing:
            raise
        return None


def _weight(seg: _Segment, segment_length: int) -> float:
    """A segment's share of a batch: 1, or a whole short contig's length / segment_length."""
    if seg.offset == 0 and seg.end == len(seg.contig_seq):
        return min(1.0, (seg.end - seg.offset) / segment_length)
    return 1.0


def _merge_windows(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of overlapping windows so each boundary locus is re-aligned once."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(windows):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _overlap(a: _Cand, b: _Cand) -> int:
    return min(a.end0, b.end0) - max(a.start0, b.start0)


def _resolve(cands: list[_Cand], db: ResfinderDB, contig_names: list[str]) -> list[GeneHit]:
    """Best allele per locus and class database (see module docstring)."""
    # Exact duplicates (same alignment seen from two overlapping segments).
    unique: dict[tuple[str, int, int, int, str], _Cand] = {}
    for c in cands:
        unique.setdefault((c.allele, c.contig_index, c.start0, c.end0, c.strand), c)
    ordered = sorted(unique.values(), key=lambda c: (-c.score, -c.blen, -c.identity, c.allele, c.start0))
    accepted: dict[tuple[str, int], list[_Cand]] = {}  # (class db, contig) -> kept hits
    winners: dict[int, _Cand] = {}
    ties: dict[int, dict[str, None]] = {}
    for c in ordered:
        allele = db.alleles[c.allele]
        for cls in allele.db_classes or ("",):
            kept = accepted.setdefault((cls, c.contig_index), [])
            clash = [k for k in kept if _overlap(c, k) > ALLOWED_OVERLAP]
            if not clash:
                kept.append(c)
                winners[id(c)] = c
            for k in clash:
                if (
                    k.allele != c.allele
                    and (k.start0, k.end0) == (c.start0, c.end0)
                    and k.identity == c.identity
                    and k.coverage == c.coverage
                ):
                    ties.setdefault(id(k), {})[c.allele] = None
    # The same allele winning in two class databases at one locus is one call.
    final: list[_Cand] = []
    for c in sorted(winners.values(), key=lambda c: (c.contig_index, c.start0, c.allele)):
        if any(
            f.allele == c.allele and f.contig_index == c.contig_index and _overlap(f, c) > ALLOWED_OVERLAP
            for f in final
        ):
            continue
        final.append(c)
    hits: list[GeneHit] = []
    for c in final:
        a = db.alleles[c.allele]
        hits.append(
            GeneHit(
                gene=a.gene,
                allele=a.name,
                accession=a.accession,
                contig=contig_names[c.contig_index],
                start=c.start0 + 1,
                end=c.end0,
                strand=c.strand,
                identity=round(c.identity * 100, 2),
                coverage=round(c.coverage * 100, 2),
                drug_class=a.drug_class,
                phenotypes=a.phenotypes,
                allele_length=a.length,
                ref_start=c.r_st + 1,
                ref_end=c.r_en,
                alignment_length=c.blen,
                mechanism=a.mechanism,
                tied=tuple(ties.get(id(c), ())),
            )
        )
    return hits


def predict_stream(
    stream: Any,
    *,
    name: str = "input",
    size: int | None = None,
    max_bytes: int | None = None,
    params: PredictParams | None = None,
    on_batch: Callable[[BatchProgress], bool | None] | None = None,
    db: ResfinderDB | None = None,
    point_db: pointfinder_db.PointFinderDB | None = None,
) -> Prediction:
    """Read a (gzip) FASTA from a binary stream and predict; ``size`` (bytes) enables
    ``BatchProgress.fraction``.  Raises ``fasta.InputError`` for bad input and
    :class:`Cancelled` when ``on_batch`` returns False."""
    from chalicelib.prediction.fasta import FastaReader

    reader = FastaReader(stream, name=name, max_bytes=max_bytes)
    return predict(
        reader,
        params,
        on_batch,
        db=db,
        input_fraction=(lambda: reader.fraction(size)) if size else None,
        point_db=point_db,
    )

"""Resistance from raw reads (FASTQ): genes with depth and point mutations from pileups (design §12).

ResFinder maps reads with KMA, one run per class database; KMA's ConClave gives each read
to its best-scoring template and reports, per template, identity and coverage relative to
the template's length and the mean depth. This module reproduces those semantics with
minimap2's short-read preset (mappy) in two passes, streaming the reads once:

1. **Stream** (the reads are never held): blocks of reads are screened for 16-mers of
   any reference (:mod:`.kmers`; ~1.5 % of a genome's reads pass) and the reads that pass
   are mapped against one index of the ResFinder alleles (an allele family through its
   representative, :mod:`.families`) and, with a species, its PointFinder references.
   Mates are scored together — their scores on an allele add up, as KMA's paired mode
   scores a pair — and per class database the fragment's best alleles (highest score;
   ties kept together) are recorded. Only fragments with a hit are kept.
2. **Resolve**: per class database, alleles are ranked as ConClave breaks ties (the
   score of the fragments they are best for, a tie counting for each; then that score per
   base; then the score of fragments only they are best for; then database order); each
   fragment goes to the highest-ranked of its best alleles — ConClave's choice of one
   template per cluster of similar alleles. The fragment's reads are aligned again to
   that winner (with the difference string, scored as KMA scores) and join its pileup,
   each alignment extended without gaps to the read's ends (KMA aligns reads end to end).
   A winner is called when its consensus meets `min_identity` (identical
   consensus bases / allele length, KMA's `Template_Identity`), `min_coverage` and a
   mean depth of at least `min_depth` (ResFinder has no depth threshold; ours is
   documented and defaults to 2).
3. **Point mutations**: the kept reads make a pileup per PointFinder reference; every
   stretch with at least `min_depth` reads becomes an alignment whose bases are, per
   position, the most frequent non-reference option when it reaches
   `min_allele_fraction` of the reads there, else the reference base (insertions
   likewise). Those alignments go
   through PointFinder's own codon/nucleotide reading (:mod:`..pointfinder`), so mutations
   are named, looked up and thresholded exactly as for assemblies; each carries the read
   depth at its position. `contig` is the reference sequence's name and positions are
   positions in it (a read set has no contigs).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import mappy

from chalicelib.jobs.params import NO_SPECIES, PredictParams
from chalicelib.prediction import pointfinder, pointfinder_db
from chalicelib.prediction.mapindex import build_index
from chalicelib.prediction.pointfinder import Alignment, PointResult
from chalicelib.prediction.pointfinder_db import PointGene, SpeciesDB
from chalicelib.prediction.reads import families as families_mod
from chalicelib.prediction.reads.fastq import FastqReader, ReadBlock, pair_batches, single_batches
from chalicelib.prediction.reads.kmers import KmerScreen
from chalicelib.prediction.reads.pileup import BASES, DELETION, Pileup
from chalicelib.prediction.resfinder_db import ResfinderDB, load_db
from chalicelib.prediction.results import BatchProgress, Cancelled, GeneHit, Prediction, conclude

#: minimap2's short-read preset with 15-mer seeds (minimizer window 10): reads of an allele
#: 7 % away from the database still seed (the preset's 21-mers lose a third of them, and
#: KMA seeds with 16-mers), and it maps faster than the preset on this small index.
#: best_n is large so every equally good allele of a family (e.g. ~200 blaTEM) is seen and
#: ties are kept, as ConClave sees every template.
READ_OPTIONS: dict[str, Any] = {"preset": "sr", "k": 15, "w": 10, "best_n": 1000}
#: Alignments that feed pileups score as KMA does (match 1, mismatch 2, a gap of length L
#: 5 + (L - 1)), so gaps in diverged stretches are placed where ResFinder's read mode
#: places them.
CALL_OPTIONS: dict[str, Any] = {"scoring": [1, 2, 4, 1, 4, 1]}
#: A read alignment counts when at least this long and this identical (KMA's defaults
#: keep alignments down to ~50 % relative score; reads of a >= 90 % allele are >= 80 %).
MIN_ALIGNED = 30
MIN_READ_IDENTITY = 0.80
#: Reads mapped per batch: progress, heartbeat and cancellation after each batch.
READS_PER_BATCH = 20_000
MAP_THREADS = max(1, min(2, os.cpu_count() or 1))
#: The single "class" of the species' PointFinder references in winner selection.
POINT = "pointfinder"


@dataclass
class _Kept:
    """What pass 1 keeps of a fragment (a read, or a pair of mates scored together as
    KMA scores pairs): the sequences that hit and, per class, the fragment's best alleles
    and its score on them."""

    seqs: tuple[str, ...]
    best: dict[str, tuple[tuple[str, ...], int]]


def _score(h: Any) -> int:
    """Alignment score from what mappy exposes: matches minus 3 per edit (minimap2's sr
    mismatch penalty is 8 against a match of 2)."""
    return int(h.mlen) - 3 * int(h.NM)


def _passes(h: Any) -> bool:
    return h.blen >= MIN_ALIGNED and h.mlen >= MIN_READ_IDENTITY * h.blen


# --------------------------------------------------------------------------- indexes


def _build(records: Iterable[tuple[str, str]], **options: Any) -> mappy.Aligner:
    return build_index(records, "the reads-mode references", **options)


_LOCK = threading.Lock()
#: Prefix of PointFinder references in the combined index (allele names never start so).
SPECIES_PREFIX = "pointfinder|"


@dataclass
class ReadIndex:
    """What pass 1 needs, built once per process and database/species: the allele
    families, one short-read index of the families' representatives, the other alleles
    and (prefixed) the PointFinder references, and the k-mer screen of the same
    sequences — each read is screened once and, when it may touch a reference, mapped
    once."""

    aligner: mappy.Aligner
    screen: KmerScreen
    families: dict[str, families_mod.Family]


_INDEX: dict[tuple[str, str, str], ReadIndex] = {}


def read_index(db: ResfinderDB, species: SpeciesDB | None = None) -> ReadIndex:
    key = (db.path, db.version, species.key if species is not None else "")
    with _LOCK:
        if key not in _INDEX:
            alleles = [(a.name, a.sequence, a.db_classes or ("",)) for a in db.alleles.values()]
            families = families_mod.group(alleles)
            members = {n for f in families.values() for n in f.names[1:]}
            records = [(n, seq) for n, seq, _ in alleles if n not in members]
            if species is not None:
                records += [(SPECIES_PREFIX + g.template, g.sequence) for g in species.genes]
            # The screen holds the indexed sequences too: a family member is within 3 % of
            # its representative, so its reads share plenty of 16-mers with it (and the
            # bitmap builds in a quarter of the time).
            _INDEX[key] = ReadIndex(_build(records, **READ_OPTIONS), KmerScreen(seq for _, seq in records), families)
        return _INDEX[key]


def clear_index_cache() -> None:
    """Drop cached indexes (benchmarks measuring a cold start)."""
    with _LOCK:
        _INDEX.clear()


# --------------------------------------------------------------------------- predict


def batched(fragments: Iterable[tuple[str, ...]], size: int = 10_000) -> Iterator[ReadBlock]:
    """Fragments (one or two mates each) as blocks of reads; pairs as paired blocks."""
    firsts: list[str] = []
    seconds: list[str] = []
    singles: list[str] = []

    def flush() -> Iterator[ReadBlock]:
        if firsts:
            yield ReadBlock.pair(ReadBlock.of(firsts), ReadBlock.of(seconds))
        if singles:
            yield ReadBlock.of(singles)
        for pending in (firsts, seconds, singles):
            pending.clear()

    for fragment in fragments:
        if len(fragment) == 2:
            firsts.append(fragment[0])
            seconds.append(fragment[1])
        else:
            singles.extend(fragment)
        if 2 * len(firsts) + len(singles) >= size:
            yield from flush()
    yield from flush()


def predict_reads(
    reads: Iterable[tuple[str, ...]],
    params: PredictParams | None = None,
    on_batch: Callable[[BatchProgress], bool | None] | None = None,
    **options: Any,
) -> Prediction:
    """Predict from reads given as fragments (one tuple per fragment: one sequence for
    single-end, two for a pair); ``options`` as for :func:`predict_batches`."""
    return predict_batches(batched(reads, READS_PER_BATCH), params, on_batch, **options)


def predict_batches(  # noqa: C901 - the streaming loop: read blocks, screen, align, progress, cancel
    batches: Iterable[ReadBlock | list[Any]],
    params: PredictParams | None = None,
    on_batch: Callable[[BatchProgress], bool | None] | None = None,
    *,
    db: ResfinderDB | None = None,
    point_db: pointfinder_db.PointFinderDB | None = None,
    input_fraction: Callable[[], float | None] | None = None,
    bytes_read: Callable[[], int] | None = None,
) -> Prediction:
    """Predict from blocks of reads (a paired block scores mates together; a plain list
    of str or bytes is single-end reads). Errors raised
    while reading (``fasta.InputError``) propagate; ``on_batch`` returning False raises
    :class:`Cancelled`. The next batch is read and parsed while the current one is mapped
    (mappy releases the GIL), so reading and mapping overlap."""
    params = params or PredictParams()
    db = db or load_db()
    t0 = time.perf_counter()
    species: SpeciesDB | None = None
    point_version: str | None = None
    if params.point_mutations and params.species != NO_SPECIES:
        pdb = point_db or pointfinder_db.load_db()
        species, point_version = pdb.load(params.species), pdb.version
    found = read_index(db, species)
    index, screen, families = found.aligner, found.screen, found.families
    index_seconds = time.perf_counter() - t0
    classes_of: dict[str, tuple[str, ...]] = {a.name: a.db_classes or ("",) for a in db.alleles.values()}
    if species is not None:
        classes_of.update({SPECIES_PREFIX + g.template: (POINT,) for g in species.genes})
    tls = threading.local()

    def buffer() -> mappy.ThreadBuffer:
        b = getattr(tls, "buf", None)
        if b is None:
            b = tls.buf = mappy.ThreadBuffer()
        return b

    def family_build(records: Iterable[tuple[str, str]]) -> mappy.Aligner:
        return _build(records, **{**READ_OPTIONS, "best_n": 500})

    def read_scores(seq: bytes, buf: mappy.ThreadBuffer) -> dict[str, dict[str, int]]:
        """Per class, the read's alignment score on each allele it hits (on every member
        of a family it hits through the family's representative)."""
        scores: dict[str, dict[str, int]] = {}

        def note(name: str, s: int) -> None:
            for cls in classes_of.get(name, ("",)):
                mine = scores.setdefault(cls, {})
                if s > mine.get(name, -(10**9)):
                    mine[name] = s

        for h in index.map(seq, buf=buf, cs=True):
            family = families.get(h.ctg)
            if family is None:
                if _passes(h):
                    note(h.ctg, _score(h))
                continue
            members = families_mod.member_scores(family, h, seq, MIN_ALIGNED, MIN_READ_IDENTITY)
            if members is None:  # an indel: align to the members one by one
                members = {m.ctg: _score(m) for m in family.aligner(family_build).map(seq, buf=buf) if _passes(m)}
            for name, s in members.items():
                note(name, s)
        return scores

    def map_block(block: ReadBlock) -> tuple[list[_Kept], list[_Kept]]:
        """Pass 1 for a block (runs in a worker: numpy and mappy release the GIL): the
        k-mer screen, the alignment of the reads it keeps, and each fragment's best
        alleles per class (mates' scores on an allele add up, so a pair goes to the allele
        that fits both mates, as KMA's paired mode decides)."""
        kept: list[_Kept] = []
        point: list[_Kept] = []
        buf = buffer()
        hits: dict[int, tuple[bytes, dict[str, dict[str, int]]]] = {}
        for i in screen.select(block.bases, block.ends):
            seq = block.read(i)
            scores = read_scores(seq, buf)
            if scores:
                hits[i] = (seq, scores)
        for i in sorted(hits):
            j = block.mate(i)
            if j is not None and j < i and j in hits:
                continue  # the pair was taken with its first mate
            members = [hits[i]] + ([hits[j]] if j is not None and j in hits else [])
            seqs = tuple(seq.decode("ascii").upper() for seq, _ in members)
            best: dict[str, tuple[tuple[str, ...], int]] = {}
            for cls in {c for _, scores in members for c in scores}:
                total: dict[str, int] = {}
                for _, scores in members:
                    for allele, s in scores.get(cls, {}).items():
                        total[allele] = total.get(allele, 0) + s
                top = max(total.values())
                best[cls] = (tuple(sorted(a for a, s in total.items() if s == top)), top)
            top_point = best.pop(POINT, None)
            if top_point is not None:
                names = tuple(n[len(SPECIES_PREFIX) :] for n in top_point[0])
                point.append(_Kept(seqs, {POINT: (names, top_point[1])}))
            if best:
                kept.append(_Kept(seqs, best))
        return kept, point

    kept: list[_Kept] = []
    point_reads: list[_Kept] = []
    state: dict[str, int] = {"reads": 0, "bases": 0, "batch": 0}
    last_fraction = [0.0]

    def collect(future: Any, finished: bool) -> None:
        k, p = future.result()
        kept.extend(k)
        point_reads.extend(p)
        state["reads"] += future.reads
        state["bases"] += future.bases
        state["batch"] += 1
        fraction: float | None = None
        if input_fraction is not None:
            fraction = 1.0 if finished else max(last_fraction[0], min(0.999, input_fraction() or 0.0))
            last_fraction[0] = fraction
        progress = BatchProgress(
            batch=state["batch"],
            segments_done=state["reads"],
            segments_seen=state["reads"],
            contigs_seen=0,
            bases_done=state["bases"],
            bases_seen=state["bases"],
            hits=len(kept) + len(point_reads),
            elapsed=time.perf_counter() - t0,
            fraction=fraction,
            finished=finished,
            reads=state["reads"],
            bytes_read=bytes_read() if bytes_read else None,
        )
        if on_batch is not None and on_batch(progress) is False:
            raise Cancelled(progress)

    # Blocks are read and checked here while up to MAP_THREADS earlier ones are screened
    # and mapped in the pool.
    in_flight: list[Any] = []
    with ThreadPoolExecutor(max_workers=MAP_THREADS) as pool:
        try:
            for batch in batches:
                block = batch if isinstance(batch, ReadBlock) else ReadBlock.of(batch)
                if not len(block):
                    continue
                future = pool.submit(map_block, block)
                future.reads, future.bases = len(block), len(block.bases)  # type: ignore[attr-defined]
                in_flight.append(future)
                if len(in_flight) > MAP_THREADS:
                    collect(in_flight.pop(0), False)
            while in_flight:
                collect(in_flight.pop(0), not in_flight)
        finally:
            for future in in_flight:
                future.cancel()

    # Genes and mutations are called from separate pileups: side by side (alignment and
    # numpy release the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool:
        mutations = pool.submit(call_mutations, point_reads, species, params) if species is not None else None
        genes = call_genes(kept, db, params)
        point = mutations.result() if mutations is not None else None
    return conclude(
        db,
        params,
        genes,
        point,
        species,
        started=t0,
        index_seconds=index_seconds,
        point_database_version=point_version,
        contigs=0,
        bases=state["bases"],
        segments=state["batch"],
        reads=state["reads"],
    )


# --------------------------------------------------------------------------- genes


def choose_winners(kept: list[_Kept], lengths: dict[str, int]) -> dict[str, list[str]]:
    """Per class database, the alleles that win reads (see the module docstring).

    Alleles are ranked as KMA's ConClave breaks ties: the total score of the fragments
    they are best for (a tie gives its whole score to each), then that total per base of
    the allele (the shorter wins), then the score of the fragments only they are best for,
    then the order of the database (``lengths`` lists the alleles in that order)."""
    order = {name: i for i, name in enumerate(lengths)}
    entries: dict[str, list[tuple[int, tuple[str, ...], int]]] = {}
    for rid, k in enumerate(kept):
        for cls, (alleles, score) in k.best.items():
            entries.setdefault(cls, []).append((rid, alleles, score))
    winners: dict[str, list[str]] = {}
    for cls, items in entries.items():
        total: dict[str, float] = {}
        unique: dict[str, float] = {}
        reads_of: dict[str, list[int]] = {}
        for n, (_rid, alleles, score) in enumerate(items):
            for a in alleles:
                total[a] = total.get(a, 0.0) + max(score, 1)
                reads_of.setdefault(a, []).append(n)
            if len(alleles) == 1:
                unique[alleles[0]] = unique.get(alleles[0], 0.0) + max(score, 1)

        def rank(
            a: str, total: dict[str, float] = total, unique: dict[str, float] = unique
        ) -> tuple[float, float, float, int]:
            return (-total[a], -total[a] / max(1, lengths.get(a, 1)), -unique.get(a, 0.0), order.get(a, len(order)))

        taken: set[int] = set()
        chosen: list[str] = []
        for allele in sorted(total, key=rank):
            fresh = [n for n in reads_of[allele] if n not in taken]
            if fresh:
                chosen.append(allele)
                taken.update(fresh)
        winners[cls] = chosen
    return winners


def call_genes(kept: list[_Kept], db: ResfinderDB, params: PredictParams) -> list[GeneHit]:
    """Pileups of the winning alleles and ResFinder's read-mode thresholds."""
    winners = choose_winners(kept, {name: a.length for name, a in db.alleles.items()})
    names = sorted({a for alleles in winners.values() for a in alleles})
    if not names:
        return []
    rank = {cls: {a: i for i, a in enumerate(alleles)} for cls, alleles in winners.items()}
    piles = {n: Pileup(n, db.alleles[n].sequence) for n in names}
    align = _WinnerAligner({n: db.alleles[n].sequence for n in names})
    for k in kept:
        added: set[str] = set()
        for cls, (alleles, _) in k.best.items():
            target = _target(alleles, rank.get(cls, {}))
            if target not in added:
                added.add(target or "")
                align.pile_up(k.seqs, target, rank.get(cls, {}), piles)
    min_id, min_cov, min_depth = float(params.min_identity), float(params.min_coverage), float(params.min_depth)
    out: list[GeneHit] = []
    for name in names:
        identity, coverage, depth, first, last = piles[name].template_stats()
        if identity < min_id or coverage < min_cov or depth < min_depth:
            continue
        a = db.alleles[name]
        out.append(
            GeneHit(
                gene=a.gene,
                allele=a.name,
                accession=a.accession,
                contig=a.name,
                start=first + 1,
                end=last,
                strand="+",
                identity=round(identity * 100, 2),
                coverage=round(coverage * 100, 2),
                drug_class=a.drug_class,
                phenotypes=a.phenotypes,
                allele_length=a.length,
                ref_start=first + 1,
                ref_end=last,
                alignment_length=round(coverage * a.length),
                mechanism=a.mechanism,
                depth=round(depth, 2),
            )
        )
    return sorted(out, key=lambda g: (g.gene, g.allele))


def _target(alleles: tuple[str, ...], ranks: dict[str, int]) -> str | None:
    """The winner a fragment goes to: its best alleles include winners, so the
    highest-ranked of them; else None (it was taken by a winner it does not rank best)."""
    mine = [a for a in alleles if a in ranks]
    return min(mine, key=ranks.__getitem__) if mine else None


class _WinnerAligner:
    """Alignments (with difference strings) of kept fragments to the winning alleles or
    references: to one through its own small index, or to the best of several through
    one index of all winners; indexes are built on first use."""

    def __init__(self, sequences: dict[str, str]) -> None:
        self.sequences = sequences
        self.single: dict[str, mappy.Aligner] = {}
        self.combined: mappy.Aligner | None = None
        self.buf = mappy.ThreadBuffer()

    def pile_up(
        self, seqs: tuple[str, ...], target: str | None, ranks: dict[str, int], piles: dict[str, Pileup]
    ) -> None:
        """Add the fragment's reads to the pileup of its winner: ``target``, or (None)
        the winner the fragment scores best on."""
        if target is None:
            target = self.best(seqs, ranks)
            if target is None:
                return
        pile = piles[target]
        for seq in seqs:
            h = self.to(target, seq)
            if h is not None:
                pile.add(h, seq)

    def to(self, name: str, read: str) -> Any:
        aligner = self.single.get(name)
        if aligner is None:
            aligner = self.single[name] = mappy.Aligner(
                seq=self.sequences[name], **{**READ_OPTIONS, "best_n": 5, **CALL_OPTIONS}
            )
        hits = [h for h in aligner.map(read, buf=self.buf, cs=True) if _passes(h)]
        return max(hits, key=_score) if hits else None

    def best(self, seqs: tuple[str, ...], ranks: dict[str, int]) -> str | None:
        if self.combined is None:
            self.combined = _build(self.sequences.items(), **{**READ_OPTIONS, "best_n": max(50, len(self.sequences))})
        total: dict[str, int] = {}
        for seq in seqs:
            scores: dict[str, int] = {}
            for h in self.combined.map(seq, buf=self.buf):
                if _passes(h) and h.ctg in ranks:
                    scores[h.ctg] = max(scores.get(h.ctg, -1), _score(h))
            for name, s in scores.items():
                total[name] = total.get(name, 0) + s
        return max(total, key=lambda n: (total[n], -ranks[n])) if total else None


# --------------------------------------------------------------------------- mutations


def call_mutations(kept: list[_Kept], species: SpeciesDB, params: PredictParams) -> PointResult:
    """Pileups on the species' references, read by PointFinder's own rules. A read equally
    good on several references (e.g. the 16S copies rrsB, rrsC, rrsH) joins the one that
    collects the most reads, as ConClave decides, so one copy gets the depth."""
    genes = {g.template: g for g in species.genes}
    lengths = {g.template: len(g.sequence) for g in species.genes}
    rank = {t: i for i, t in enumerate(choose_winners(kept, lengths).get(POINT, [])) if t in genes}
    piles: dict[str, Pileup] = {t: Pileup(t, genes[t].sequence) for t in rank}
    align = _WinnerAligner({t: genes[t].sequence for t in rank})
    for k in kept:
        align.pile_up(k.seqs, _target(k.best[POINT][0], rank), rank, piles)
    piles = {t: pile for t, pile in piles.items() if pile.reads}
    alignments: list[Alignment] = []
    depths: dict[str, list[int]] = {}
    for template, pile in sorted(piles.items()):
        depths[template] = pile.depths()
        alignments += pileup_alignments(
            pile, genes[template], depths[template], float(params.min_depth), float(params.min_allele_fraction)
        )
    result = pointfinder.call(species, alignments)
    result.mutations = [
        replace(m, depth=float(_depth_at(depths.get(m.template, []), m.mutation.contig_position)))
        for m in result.mutations
    ]
    return result


def _depth_at(depths: list[int], position: int) -> int:
    return depths[position - 1] if 0 < position <= len(depths) else 0


def pileup_alignments(
    pile: Pileup, gene: PointGene, depths: list[int], min_depth: float, min_fraction: float
) -> list[Alignment]:
    """One alignment per stretch of the reference read by at least `min_depth` reads."""
    out: list[Alignment] = []
    ref = gene.sequence
    i, n = 0, len(ref)
    while i < n:
        if depths[i] < min_depth or depths[i] == 0:
            i += 1
            continue
        lo = i
        r_cols: list[str] = []
        q_cols: list[str] = []
        where: list[int] = []
        while i < n and depths[i] >= min_depth and depths[i] > 0:
            option = _call(pile, i, depths[i], min_fraction)
            r_cols.append(ref[i])
            q_cols.append("-" if option == DELETION else BASES[option])
            where.append(i + 1)
            ins = pile.insertions.get(i)
            if ins and i + 1 < n and depths[i + 1] >= min_depth:
                bases, count = max(ins.items(), key=lambda kv: (kv[1], kv[0]))
                if count >= min_fraction * depths[i]:
                    r_cols.extend("-" * len(bases))
                    q_cols.extend(bases)
                    where.extend([i + 1] * len(bases))
            i += 1
        out.append(Alignment(gene, gene.template, lo, "".join(r_cols), "".join(q_cols), tuple(where), "+"))
    return out


def _call(pile: Pileup, i: int, depth: int, min_fraction: float) -> int:
    """The option read at position i: the strongest non-reference option when it reaches
    `min_fraction` of the reads there, else the reference base (a change seen in fewer
    reads is not called)."""
    values = [c[i] for c in pile.counts]
    ref = BASES.find(pile.ref[i])
    alts = [(v, k) for k, v in enumerate(values) if k != ref and v > 0]
    if alts:
        v, k = max(alts)
        if v >= min_fraction * depth:
            return k
    return ref if ref >= 0 else max(range(5), key=lambda k: values[k])


def predict_streams(
    streams: list[Any],
    names: list[str],
    size: int | None,
    *,
    max_bytes: int | None = None,
    params: PredictParams | None = None,
    on_batch: Callable[[BatchProgress], bool | None] | None = None,
    db: ResfinderDB | None = None,
    point_db: pointfinder_db.PointFinderDB | None = None,
) -> Prediction:
    """Read one FASTQ stream (single-end) or two (mates, read in step) and predict;
    ``size`` (bytes of all streams) makes progress a fraction of the bytes consumed.
    Each file is held to ``max_bytes`` (compressed and decompressed)."""
    readers = [FastqReader(s, name=n, max_bytes=max_bytes) for s, n in zip(streams, names, strict=False)]
    if len(readers) == 2:
        batches: Iterable[ReadBlock] = pair_batches(readers[0], readers[1], READS_PER_BATCH // 2)
    elif len(readers) == 1:
        batches = single_batches(readers[0], READS_PER_BATCH)
    else:
        raise ValueError("reads come as one file or a pair of mates")

    def consumed() -> int:
        return sum(r.bytes_read for r in readers)

    return predict_batches(
        batches,
        params,
        on_batch,
        db=db,
        point_db=point_db,
        input_fraction=(lambda: min(1.0, consumed() / size)) if size else None,
        bytes_read=consumed,
    )

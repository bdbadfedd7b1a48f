"""The result of a prediction, the same for assemblies and reads: the called genes
(:class:`GeneHit`), the :class:`Prediction` that :mod:`.render` writes out, and what a
predictor reports while it runs (:class:`BatchProgress`, :class:`Cancelled`).

Both predictors, :mod:`.acquired` (assemblies) and :mod:`.reads.predictor` (reads), end in
:func:`conclude`, so the resistance profile and the phenotype table are derived in one place.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.jobs.params import PredictParams
from chalicelib.prediction import phenotypes, pointfinder_db
from chalicelib.prediction.phenotypes import PhenotypeTable
from chalicelib.prediction.pointfinder import PointResult
from chalicelib.prediction.resfinder_db import ResfinderDB

if TYPE_CHECKING:  # typescan loads mappy and the typing data; the type alone is needed here
    from chalicelib.prediction.typescan import TypingResult


class Cancelled(Exception):
    """Raised by a predictor when ``on_batch`` returned False."""

    def __init__(self, progress: BatchProgress) -> None:
        super().__init__(f"prediction cancelled after {progress.segments_done} segments")
        self.progress = progress


@dataclass(frozen=True)
class BatchProgress:
    """Passed to ``on_batch`` after each batch.

    ``fraction`` estimates overall progress (0..1) when ``acquired.predict`` was given
    ``input_fraction``: the fraction of input bytes consumed when the latest
    contig was read, scaled by bases aligned / bases read so far; it reaches 1.0
    only on the last batch.  None when no input size is known.
    """

    batch: int
    segments_done: int
    segments_seen: int
    contigs_seen: int
    bases_done: int
    bases_seen: int
    hits: int
    elapsed: float
    fraction: float | None
    finished: bool
    #: reads mode: reads consumed so far and raw input bytes consumed (None for assemblies)
    reads: int | None = None
    bytes_read: int | None = None


@dataclass(frozen=True)
class GeneHit:
    """One called gene; ``to_dict`` gives the design §6 ``genes[]`` entry."""

    gene: str
    allele: str
    accession: str
    contig: str
    start: int  # 1-based inclusive
    end: int  # 1-based inclusive
    strand: str  # '+' or '-'
    identity: float  # percent
    coverage: float  # percent
    drug_class: str
    phenotypes: tuple[str, ...]
    allele_length: int
    ref_start: int  # 1-based inclusive position in the allele
    ref_end: int
    alignment_length: int  # alignment columns (matches, mismatches, gaps)
    mechanism: str = ""
    #: alleles aligned to exactly this locus with the same identity and coverage: ResFinder
    #: reports each, and its phenotype table counts every one of them
    tied: tuple[str, ...] = ()
    #: reads mode: mean read depth over the allele (None for assemblies)
    depth: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """design §6 gene entry (with `depth` for reads)."""
        data = {
            "gene": self.gene,
            "allele": self.allele,
            "accession": self.accession,
            "contig": self.contig,
            "start": self.start,
            "end": self.end,
            "strand": self.strand,
            "identity": self.identity,
            "coverage": self.coverage,
            "drug_class": self.drug_class,
            "phenotypes": list(self.phenotypes),
        }
        if self.depth is not None:
            data["depth"] = self.depth
        return data


@dataclass
class Prediction:
    """Result of one prediction (job-independent; render.py renders it)."""

    genes: list[GeneHit]
    resistance: dict[str, list[str]]
    contigs: int
    bases: int
    segments: int
    seconds: float
    index_seconds: float
    database_name: str
    database_version: str
    params: PredictParams = field(default_factory=PredictParams)
    #: point mutations (None when the job searched none) and the phenotype table
    point: PointResult | None = None
    point_database_version: str | None = None
    phenotypes: PhenotypeTable | None = None
    #: reads mode: number of reads (mates counted one by one); None for assemblies
    reads: int | None = None
    #: MLST, replicons and gene locations (design §20); None when the job typed nothing
    typing: TypingResult | None = None

    @property
    def species(self) -> str:
        return self.params.species

    @property
    def resistant(self) -> list[str]:
        """Antibiotics predicted Resistant (the phenotype table's answer)."""
        return self.phenotypes.resistant if self.phenotypes else []

    def stats(self) -> dict[str, Any]:
        """design §6 ``stats`` object (reads jobs: ``reads`` and ``batches`` instead of contigs)."""
        if self.reads is not None:
            return {
                "input": "reads",
                "reads": self.reads,
                "bases": self.bases,
                "batches": self.segments,
                "seconds": round(self.seconds, 3),
            }
        return {
            "contigs": self.contigs,
            "bases": self.bases,
            "segments": self.segments,
            "seconds": round(self.seconds, 3),
        }


def conclude(
    db: ResfinderDB,
    params: PredictParams,
    genes: list[GeneHit],
    point: PointResult | None,
    species: pointfinder_db.SpeciesDB | None,
    *,
    started: float,
    index_seconds: float,
    point_database_version: str | None,
    typing: TypingResult | None = None,
    **counts: int,
) -> Prediction:
    """The prediction of called genes and mutations, assemblies and reads alike: the
    resistance profile, the phenotype table and the run's figures (``counts``: contigs,
    bases, segments, reads)."""
    table = phenotypes.build(db, genes, point.mutations if point else (), species, params.species_name)
    return Prediction(
        genes=genes,
        resistance=resistance_profile(genes, db),
        seconds=time.perf_counter() - started,
        index_seconds=index_seconds,
        database_name=db.name,
        database_version=db.version,
        params=params,
        point=point,
        point_database_version=point_database_version,
        phenotypes=table,
        typing=typing,
        **counts,
    )


def resistance_profile(genes: Iterable[GeneHit], db: ResfinderDB) -> dict[str, list[str]]:
    """Drug class -> sorted phenotypes; each phenotype's class comes from antibiotic_classes.txt."""
    profile: dict[str, set[str]] = {}
    for g in genes:
        fallback = g.drug_class.split(",")[0].strip() or g.drug_class
        for p in g.phenotypes:
            profile.setdefault(db.class_of_antibiotic(p, fallback), set()).add(p)
    return {cls: sorted(profile[cls]) for cls in sorted(profile)}

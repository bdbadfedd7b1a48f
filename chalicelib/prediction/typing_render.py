"""Typing in the result files (design §20): ``mlst.tsv``, ``plasmids.tsv`` and the JSON fields.

``mlst.tsv`` has Kleborate's columns (ST, then one column per locus, allele marks as
Kleborate writes them) with the scheme first, one row per typed scheme; a job that typed
nothing has the header only. ``plasmids.tsv`` has PlasmidFinder's result-table columns
(``results_tab.tsv``: Database, Plasmid, Identity, Query / Template length, Contig,
Position in contig, Note, Accession number) plus coverage and strand.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core import tsv
from chalicelib.prediction.typescan import TypingResult

MLST_COLUMNS = ("Scheme", "ST", "Clonal complex", "Alleles", "Selected by")
PLASMID_COLUMNS = (
    "Database",
    "Plasmid",
    "Identity",
    "Coverage",
    "Query / Template length",
    "Contig",
    "Position in contig",
    "Strand",
    "Note",
    "Accession number",
)


def mlst_tsv(typing: TypingResult | None) -> str:
    """One row per typed scheme; alleles as ``locus(allele)`` in scheme order."""
    rows = [
        [
            c.scheme,
            c.st,
            c.clonal_complex or "",
            " ".join(f"{locus}({allele})" for locus, allele in c.alleles.items()),
            c.selected_by,
        ]
        for c in (typing.mlst if typing else [])
    ]
    return tsv.table(MLST_COLUMNS, rows)


def plasmids_tsv(typing: TypingResult | None) -> str:
    """One row per replicon hit."""
    rows = [
        [
            p.database,
            p.name,
            f"{p.identity:.2f}",
            f"{p.coverage:.2f}",
            f"{p.alignment_length} / {p.reference_length}",
            p.contig,
            f"{p.start}..{p.end}",
            p.strand,
            "_".join(p.reference.split("_")[1:3]),
            p.accession,
        ]
        for p in (typing.plasmids if typing else [])
    ]
    return tsv.table(PLASMID_COLUMNS, rows)


def typing_fields(typing: TypingResult | None) -> dict[str, Any]:
    """``mlst``, ``plasmids`` and ``typing_database`` of ``predictions.json`` (empty lists and
    null when the job typed nothing, e.g. reads)."""
    if typing is None:
        return {"mlst": [], "plasmids": [], "typing_database": None}
    return typing.to_dict()


def gene_location(typing: TypingResult | None, contig: str) -> dict[str, Any] | None:
    """A gene's ``location`` (None when the job typed nothing)."""
    return typing.location(contig) if typing is not None else None


def summary_fields(typing: TypingResult | None) -> dict[str, Any]:
    """What the job item keeps (strings only): the primary ST and scheme, replicon names."""
    if typing is None:
        return {}
    first = typing.mlst[0] if typing.mlst else None
    return {
        "st": first.st if first else None,
        "mlst_scheme": first.scheme if first else None,
        "replicons": sorted({p.name for p in typing.plasmids})[:50],
    }

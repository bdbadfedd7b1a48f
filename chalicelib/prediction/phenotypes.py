"""The per-antibiotic phenotype table, with ResFinder 4.3's semantics (its `pheno_table.txt`).

* Rows: every antibiotic named by the ResFinder database's `phenotypes.txt` and, with a
  species, by that species' PointFinder `phenotypes.txt`, under each class
  `antibiotic_classes.txt` gives it (an antibiotic with no class there is left out, as
  ResFinder leaves it out). Classes come in the order their first antibiotic appears,
  antibiotics in order of first appearance within a class.
* `Resistant` when a found gene's allele (or an allele tied with it at that locus, which
  ResFinder reports too) lists the antibiotic, or a found known mutation's
  database row does and every mutation the row requires (one of its groups) was found
  too (e.g. gyrA A84P counts only with a gyrA S83 change); otherwise `No resistance`.
* Match: 3 for a mutation; for a gene 1 when its alignment length differs from the
  allele's, 2 when it is shorter than 100 % identity, else 3; the best determinant wins.
* Genetic background: `gene (gene_accession)` for genes and `gene (p.S83L)` for mutations,
  as ResFinder writes them. ResFinder 4.3 itself leaves the match and background empty
  when only mutations confer a resistance; this table fills them (documented choice).
* Species panel: ResFinder's `phenotype_panels.txt` view for the species (its antibiotics
  in panel order; one the database does not know is `NA` / `Not in database`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.prediction.pointfinder import MutationCall
from chalicelib.prediction.pointfinder_db import PointRow, SpeciesDB
from chalicelib.prediction.resfinder_db import ResfinderDB

RESISTANT = "Resistant"
NO_RESISTANCE = "No resistance"
NOT_IN_DATABASE = "NA"  # a panel antibiotic the database does not name
TSV_COLUMNS = ("Antimicrobial", "Class", "WGS-predicted phenotype", "Match", "Genetic background")


@dataclass(frozen=True)
class PhenotypeRow:
    antimicrobial: str
    drug_class: str
    phenotype: str
    match: int | None
    genes: tuple[str, ...] = ()
    mutations: tuple[str, ...] = ()

    @property
    def resistant(self) -> bool:
        return self.phenotype == RESISTANT

    @property
    def background(self) -> str:
        if self.phenotype == NOT_IN_DATABASE:
            return "Not in database"
        return ", ".join(self.genes + self.mutations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "antimicrobial": self.antimicrobial,
            "class": self.drug_class,
            "phenotype": self.phenotype,
            "match": self.match,
            "genetic_background": self.background,
            "genes": list(self.genes),
            "mutations": list(self.mutations),
        }

    def cells(self) -> list[str]:
        match = "NA" if self.match is None else str(self.match)
        return [self.antimicrobial, self.drug_class, self.phenotype, match, self.background]


@dataclass(frozen=True)
class PhenotypeTable:
    rows: tuple[PhenotypeRow, ...]
    panel_name: str | None = None
    panel: tuple[PhenotypeRow, ...] = ()

    @property
    def resistant(self) -> list[str]:
        """Antibiotics predicted Resistant, in table order, once each."""
        return list(dict.fromkeys(r.antimicrobial for r in self.rows if r.resistant))


class GeneHit(Protocol):
    """What the table reads of an acquired-gene hit (`results.GeneHit` has it)."""

    # properties: the hits are frozen dataclasses, whose fields a protocol may only read
    @property
    def gene(self) -> str: ...
    @property
    def allele(self) -> str: ...
    @property
    def accession(self) -> str: ...
    @property
    def identity(self) -> float: ...
    @property
    def alignment_length(self) -> int: ...
    @property
    def allele_length(self) -> int: ...
    @property
    def tied(self) -> tuple[str, ...]: ...


class _Evidence:
    """What confers resistance to one antibiotic: genes and mutations, with the best match."""

    def __init__(self) -> None:
        self.match = 0
        self.genes: dict[str, None] = {}
        self.mutations: dict[str, None] = {}


def _label(call: MutationCall) -> str:
    return f"{call.gene} ({call.mutation.name})"


def gene_match(hit: GeneHit) -> int:
    """ResFinder's match category of one gene hit."""
    if hit.alignment_length != hit.allele_length:
        return 1
    return 2 if hit.identity < 100.0 else 3


def antibiotic_order(db: ResfinderDB, species: SpeciesDB | None) -> list[tuple[str, str]]:
    """(antibiotic, class) rows in ResFinder's table order."""
    names = list(db.antibiotic_order)
    if species is not None:
        names += [a for row in species.rows for a in row.antibiotics]
    classes: dict[str, dict[str, None]] = {}
    for name in names:
        for cls in db.class_lists.get(name, ()):
            classes.setdefault(cls, {})[name] = None
    return [(name, cls) for cls, members in classes.items() for name in members]


Found = list[tuple[str, int, str, str]]  # (gene, position, alternative, label) of each found mutation


def _requirements_met(row: PointRow, found: Found) -> list[str] | None:
    """Names of the required mutations found (one satisfied group), [] when none are
    required, None when the row's requirement is not met."""
    if not row.required:
        return []
    for group in row.required:
        names = []
        for need in group:
            match = [f for f in found if f[0] == need.gene and f[1] == need.position and f[2] in need.alternatives]
            if not match:
                break
            names.append(match[0][3])
        else:
            return names
    return None


def build(
    db: ResfinderDB,
    genes: Iterable[GeneHit],
    mutations: Iterable[MutationCall] = (),
    species: SpeciesDB | None = None,
    panel_name: str | None = None,
) -> PhenotypeTable:
    evidence: dict[str, _Evidence] = {}
    for hit in genes:
        for name in (hit.allele,) + hit.tied:  # ResFinder counts every allele tied at a locus
            allele = db.alleles.get(name)
            label = f"{allele.gene} ({allele.gene}_{allele.accession})" if allele else name
            for antibiotic in db.allele_antibiotics.get(name, ()):
                ev = evidence.setdefault(antibiotic, _Evidence())
                ev.genes[label] = None
                ev.match = max(ev.match, gene_match(hit))
    calls = list(mutations)
    found: Found = [(c.gene, c.mutation.position, c.mutation.lookup.upper(), _label(c)) for c in calls]
    for call in calls:
        for row in call.rows + call.stop_rows:
            required = _requirements_met(row, found)
            if required is None:
                continue
            for antibiotic in row.antibiotics:
                ev = evidence.setdefault(antibiotic, _Evidence())
                ev.mutations.update(dict.fromkeys([_label(call)] + required))
                ev.match = 3
    rows: list[PhenotypeRow] = []
    for antibiotic, cls in antibiotic_order(db, species):
        found_ev = evidence.get(antibiotic)
        if found_ev is None:
            rows.append(PhenotypeRow(antibiotic, cls, NO_RESISTANCE, 0))
        else:
            rows.append(
                PhenotypeRow(
                    antibiotic, cls, RESISTANT, found_ev.match, tuple(found_ev.genes), tuple(found_ev.mutations)
                )
            )
    panel: tuple[PhenotypeRow, ...] = ()
    panel_abx = db.panels.get(panel_name or "")
    if panel_abx:
        first: dict[str, PhenotypeRow] = {}
        for table_row in rows:
            first.setdefault(table_row.antimicrobial, table_row)
        panel = tuple(first.get(ab) or PhenotypeRow(ab, "NA", NOT_IN_DATABASE, None) for ab in panel_abx)
    return PhenotypeTable(tuple(rows), panel_name if panel else None, panel)

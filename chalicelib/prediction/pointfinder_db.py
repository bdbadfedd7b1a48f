"""Loader for the PointFinder database (`db_pointfinder`, as Debian's `resfinder-example`
ships it: one folder per species, several files gzip-compressed).

Per species folder: `genes.txt` (the genes searched), `RNA_genes.txt` (those read as
nucleotides), one `{gene}.fsa` per gene (one or more reference sequences; a name
`X-promoter-size-Nbp` means the first N bases are the promoter upstream of gene X) and
`phenotypes.txt`, the table of known mutations. Files are read as `name` or
`name.gz`, whichever exists, so the Debian layout needs no unpacking.

`phenotypes.txt` is read as ResFinder 4.3 reads it: rows after a `#...indel...` header
are insertions/deletions (column `Ref_codon` says `ins` or `del`), rows after a
`#...stop codon...` header say that any premature stop codon in the gene confers the
row's phenotype; `Res_codon` lists alternatives, `PMID` gives one PubMed id per
alternative, `Required mutation` lists mutations that must be present too
(`gene_S83L.W.A.V`; `,` joins a group, `;` separates alternative groups). Only genes in
`genes.txt` count.

Loaded once per process and species (a Lambda container serves many jobs).
"""

from __future__ import annotations

import functools
import gzip
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.prediction.resfinder_db import DatabaseError

DEFAULT_DB_DIR = "/usr/share/doc/resfinder/examples/db_pointfinder"
DB_ENV_VAR = "AMR_POINTFINDER_DB"
DB_NAME = "pointfinder"

_PROMOTER = re.compile(r"-promoter-size-(\d+)bp")
_REQUIRED = re.compile(r"^(?P<template>.+)_(?P<ref>[A-Za-z*]+)(?P<pos>-?\d+)(?P<alts>.+)$")


class PointDatabaseError(DatabaseError):
    """The PointFinder database (or one species of it) is missing or malformed (an operator
    problem, handled like a missing ResFinder database)."""


@dataclass(frozen=True)
class RequiredMutation:
    """One mutation a phenotype row requires: the gene, position and accepted alternatives."""

    gene: str
    position: int
    alternatives: tuple[str, ...]  # upper case


@dataclass(frozen=True)
class PointRow:
    """One row of `phenotypes.txt` (a phenotype of one mutation at one position)."""

    template: str
    gene: str
    kind: str  # "sub", "ins", "del" or "stop"
    position: int
    nucleotide: bool  # TypeGene NUC (rRNA, promoter): alternatives are bases
    ref: str
    alternatives: tuple[str, ...]  # upper case
    drug_class: str
    antibiotics: tuple[str, ...]  # lower case, as ResFinder's phenotype table names them
    pmids: tuple[str, ...]
    mechanism: str = ""
    notes: str = ""
    required: tuple[tuple[RequiredMutation, ...], ...] = ()

    def pmids_for(self, alternative: str) -> tuple[str, ...]:
        """ResFinder pairs PMIDs with alternatives by position; extra PMIDs go unused."""
        if alternative in self.alternatives:
            i = self.alternatives.index(alternative)
            if i < len(self.pmids):
                return (self.pmids[i],)
        return ()


@dataclass(frozen=True)
class PointGene:
    """One reference sequence of a searched gene."""

    template: str  # the FASTA name, e.g. gyrA_1_CP073768.1
    gene: str  # the file name, e.g. gyrA or ampC-promoter-size-53bp
    sequence: str
    rna: bool
    promoter_length: int = 0

    @property
    def display(self) -> str:
        """The name ResFinder prints before a mutation (the gene part of the template)."""
        return self.template.split("_")[0]


@dataclass(frozen=True)
class SpeciesDB:
    key: str
    genes: tuple[PointGene, ...]
    rows: tuple[PointRow, ...]
    version: str

    @functools.cached_property
    def by_gene(self) -> dict[str, list[PointRow]]:
        out: dict[str, list[PointRow]] = {}
        for row in self.rows:
            out.setdefault(row.gene, []).append(row)
        return out

    def rows_at(self, gene: str, kind: str, position: int) -> list[PointRow]:
        return [r for r in self.by_gene.get(gene, ()) if r.kind == kind and r.position == position]

    def stop_rows(self, gene: str) -> list[PointRow]:
        return [r for r in self.by_gene.get(gene, ()) if r.kind == "stop"]


@dataclass(frozen=True)
class PointFinderDB:
    path: str
    version: str
    species: tuple[str, ...] = field(default_factory=tuple)

    def load(self, species: str) -> SpeciesDB:
        if species not in self.species:
            raise PointDatabaseError(f"PointFinder database has no species {species!r} ({self.path})")
        return _load_species(self.path, species, self.version)


def db_dir() -> str:
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB_DIR


def _read_text(path: Path) -> str | None:
    """`path` or `path.gz`, decoded; None when neither exists."""
    if path.is_file():
        return path.read_text(encoding="utf-8", errors="replace")
    packed = path.with_name(path.name + ".gz")
    if packed.is_file():
        return gzip.decompress(packed.read_bytes()).decode("utf-8", errors="replace")
    return None


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _fasta(text: str) -> list[tuple[str, str]]:
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(">"):
            records.append((line[1:].split()[0] if line[1:].split() else "", []))
        elif line and records:
            records[-1][1].append(line.upper())
    return [(name, "".join(parts)) for name, parts in records if name]


def _csv(text: str, lower: bool = True) -> tuple[str, ...]:
    items = [i.strip() for i in text.split(",") if i.strip()]
    return tuple(i.lower() if lower else i for i in items)


def _required(text: str) -> tuple[tuple[RequiredMutation, ...], ...]:
    groups = []
    for group in (g for g in text.split(";") if g.strip()):
        muts = []
        for item in _csv(group, lower=False):
            m = _REQUIRED.match(item)
            if not m:
                raise PointDatabaseError(f"unreadable required mutation {item!r}")
            gene = m["template"].split("_")[0]
            alts = tuple(a.upper() for a in m["alts"].split(".") if a)
            muts.append(RequiredMutation(gene, int(m["pos"]), alts))
        groups.append(tuple(muts))
    return tuple(groups)


def _rows(text: str, genes: set[str]) -> list[PointRow]:
    rows: list[PointRow] = []
    indel = stop = False
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        if line.startswith("#"):
            lowered = line.lower()
            if "indel" in lowered:
                indel = True
            elif "stop codon" in lowered:
                stop = True
            else:
                stop = False
            continue
        cols = [c.strip() for c in line.split("\t")]
        cols += [""] * (14 - len(cols))
        gene = cols[0].split("_")[0]
        if gene not in genes:
            continue
        try:
            position = int(cols[3])
        except ValueError as exc:
            raise PointDatabaseError(f"bad position in phenotypes.txt: {line!r}") from exc
        antibiotics = tuple(a for a in _csv(cols[8]) if a not in ("unknown", "none", "see notes"))
        kind = "stop" if stop else (cols[5].lower() if indel else "sub")
        if kind not in ("sub", "ins", "del", "stop"):
            raise PointDatabaseError(f"unknown mutation type {cols[5]!r} in phenotypes.txt")
        rows.append(
            PointRow(
                template=cols[0],
                gene=gene,
                kind=kind,
                position=position,
                nucleotide=cols[1].upper() == "NUC",
                ref=cols[5] if kind == "sub" else cols[4],
                alternatives=tuple(a.upper() for a in _csv(cols[6], lower=False)),
                drug_class=cols[7],
                antibiotics=antibiotics,
                pmids=_csv(cols[9], lower=False),
                mechanism=cols[10],
                notes=cols[11],
                required=_required(cols[12]) if cols[12] else (),
            )
        )
    return rows


@functools.lru_cache(maxsize=16)
def _load_species(root: str, species: str, version: str) -> SpeciesDB:
    folder = Path(root) / species
    names = _lines(_read_text(folder / "genes.txt"))
    if not names:
        raise PointDatabaseError(f"PointFinder species {species!r} lists no genes ({folder})")
    rna = set(_lines(_read_text(folder / "RNA_genes.txt")))
    genes: list[PointGene] = []
    for name in names:
        text = _read_text(folder / f"{name}.fsa")
        if text is None:
            raise PointDatabaseError(f"PointFinder gene file missing: {folder / name}.fsa")
        promoter = _PROMOTER.search(name)
        for template, seq in _fasta(text):
            genes.append(PointGene(template, name, seq, name in rna, int(promoter.group(1)) if promoter else 0))
    pheno = _read_text(folder / "phenotypes.txt")
    if pheno is None:
        raise PointDatabaseError(f"PointFinder phenotypes.txt missing for {species!r} ({folder})")
    return SpeciesDB(species, tuple(genes), tuple(_rows(pheno, set(names))), version)


@functools.lru_cache(maxsize=4)
def _load(root: str) -> PointFinderDB:
    path = Path(root)
    config = _read_text(path / "config")
    if config is None:
        raise PointDatabaseError(f"PointFinder database not found (no config): {path}")
    species = tuple(
        line.split("\t")[0].strip() for line in config.splitlines() if line.strip() and not line.startswith("#")
    )
    version = (_lines(_read_text(path / "VERSION")) or ["unknown"])[0]
    return PointFinderDB(str(path), version, species)


def load_db(path: str | os.PathLike[str] | None = None) -> PointFinderDB:
    """The database at `path` (default: AMR_POINTFINDER_DB or Debian's location), cached."""
    return _load(str(Path(path if path is not None else db_dir()).resolve()))

"""The typing reference data (design §20): MLST schemes and the PlasmidFinder replicons.

Made by ``scripts/typing_db.py`` from pinned wheels (Kleborate 3.2.4 for the schemes,
staramr 0.12.3 for its PlasmidFinder copy) and read here as plain files:

    MANIFEST.json                    versions, wheel hashes, the PlasmidFinder commit
    mlst/{scheme}/profiles.tsv       ST, one column per locus[, clonal_complex]
    mlst/{scheme}/{locus}.fasta      alleles named {locus}_{number}
    plasmidfinder/config             database files (first column) and their group
    plasmidfinder/{name}.fsa         replicon sequences

Where it is found: ``AMR_TYPING_DB``; else ``chalicelib/data/typing-db`` (the Lambda
artifact, see ``scripts/package.py``); else ``build/typing-db`` of the checkout
(``make typing-db``). Loaded once per process.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Scheme -> (label, Kleborate's required exact matches). Minimum identity 90 % and allele
#: coverage 80 % are the same for all four in Kleborate 3.2.4.
SCHEME_INFO: dict[str, tuple[str, int]] = {
    "klebsiella_pneumo_complex": ("Klebsiella pneumoniae species complex", 3),
    "klebsiella_oxytoca_complex": ("Klebsiella oxytoca species complex", 3),
    "escherichia_achtman": ("Escherichia coli (Achtman)", 3),
    "escherichia_pasteur": ("Escherichia coli (Pasteur)", 4),
}
MIN_IDENTITY = 90.0
MIN_COVERAGE = 80.0
EXTRA_INFO_COLUMN = "clonal_complex"


class TypingDataError(Exception):
    """The typing data is missing or malformed (names the file)."""


@dataclass(frozen=True)
class Profile:
    st: int
    alleles: tuple[int, ...]
    clonal_complex: str | None


@dataclass
class Scheme:
    """One MLST scheme: its loci in profile order, every allele, every profile."""

    name: str
    label: str
    loci: tuple[str, ...]
    alleles: dict[str, dict[str, str]]  # locus -> allele name (gapA_3) -> sequence
    profiles: list[Profile]
    required_exact_matches: int
    has_clonal_complex: bool
    max_length: dict[str, int] = field(default_factory=dict)
    _by_allele: list[dict[int, list[int]]] | None = field(default=None, repr=False)
    #: alleles chosen at ``make typing-db`` time to reach every allele (``representatives.txt``)
    chosen: list[str] | None = None

    def profiles_with(self, locus_index: int, number: int) -> list[int]:
        """Indexes (file order) of the profiles whose allele at a locus is ``number``."""
        if self._by_allele is None:
            index: list[dict[int, list[int]]] = [{} for _ in self.loci]
            for p, profile in enumerate(self.profiles):
                for i, n in enumerate(profile.alleles):
                    index[i].setdefault(n, []).append(p)
            self._by_allele = index
        return self._by_allele[locus_index].get(number, [])

    def representatives(self, per_locus: int) -> Iterator[tuple[str, str, str]]:
        """(locus, allele name, sequence) of the alleles that find where each locus lies: the
        chosen ones (``representatives.txt``), else up to ``per_locus`` spread over the list —
        few enough that minimap2 does not drop their shared seeds as repeats."""
        if self.chosen is not None:
            for locus in self.loci:
                for name in self.chosen:
                    if name in self.alleles[locus]:
                        yield locus, name, self.alleles[locus][name]
            return
        for locus in self.loci:
            names = list(self.alleles[locus])
            step = max(1, len(names) // per_locus)
            for name in names[::step][:per_locus]:
                yield locus, name, self.alleles[locus][name]


@dataclass(frozen=True)
class Replicon:
    """One PlasmidFinder sequence; ``name`` as PlasmidFinder prints it (header up to ``_``)."""

    header: str
    name: str
    database: str  # the .fsa file it comes from (enterobacteriales, Inc18, ...)
    sequence: str

    @property
    def accession(self) -> str:
        return "".join(self.header.split("_")[3:])


@dataclass
class TypingDB:
    path: str
    schemes: dict[str, Scheme]
    replicons: dict[str, Replicon]  # header -> replicon
    manifest: dict[str, object]

    def versions(self) -> dict[str, object]:
        """What ``predictions.json`` records about the data (``typing_database``)."""
        mlst = dict(self.manifest.get("mlst", {}) or {})  # type: ignore[call-overload]
        pf = dict(self.manifest.get("plasmidfinder", {}) or {})  # type: ignore[call-overload]
        return {
            "mlst": {"source": mlst.get("source"), "schemes": sorted(self.schemes)},
            "plasmidfinder": {
                "source": pf.get("source"),
                "version": pf.get("version"),
                "commit": pf.get("commit"),
                "date": pf.get("date"),
            },
        }


def read_fasta(path: Path) -> dict[str, str]:
    """Header (first word) -> upper-case sequence."""
    records: dict[str, str] = {}
    name: str | None = None
    chunks: list[str] = []
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        if line.startswith(">"):
            if name is not None:
                records[name] = "".join(chunks).upper()
            name, chunks = line[1:].split()[0] if line[1:].split() else "", []
        elif line.strip():
            chunks.append(line.strip())
    if name is not None:
        records[name] = "".join(chunks).upper()
    return records


def load_scheme(folder: Path) -> Scheme:
    """One scheme folder (``profiles.tsv`` + one FASTA per locus)."""
    name = folder.name
    label, required = SCHEME_INFO.get(name, (name, 3))
    profiles_path = folder / "profiles.tsv"
    if not profiles_path.is_file():
        raise TypingDataError(f"{profiles_path}: missing")
    lines = profiles_path.read_text().splitlines()
    header = lines[0].split("\t")
    if header[0] != "ST":
        raise TypingDataError(f"{profiles_path}: first column is {header[0]!r}, not ST")
    has_cc = header[-1] == EXTRA_INFO_COLUMN
    loci = tuple(header[1:-1] if has_cc else header[1:])
    profiles = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            numbers = tuple(int(a) for a in parts[1 : 1 + len(loci)])
            profiles.append(
                Profile(int(parts[0]), numbers, (parts[-1] if has_cc and len(parts) > len(loci) + 1 else None))
            )
        except ValueError as exc:
            raise TypingDataError(f"{profiles_path}:{n}: {exc}") from exc
    alleles = {}
    for locus in loci:
        path = folder / f"{locus}.fasta"
        if not path.is_file():
            raise TypingDataError(f"{path}: missing")
        alleles[locus] = read_fasta(path)
    reps = folder / "representatives.txt"
    chosen = [line.strip() for line in reps.read_text().splitlines() if line.strip()] if reps.is_file() else None
    return Scheme(
        chosen=chosen,
        name=name,
        label=label,
        loci=loci,
        alleles=alleles,
        profiles=profiles,
        required_exact_matches=required,
        has_clonal_complex=has_cc,
        max_length={locus: max((len(s) for s in alleles[locus].values()), default=0) for locus in loci},
    )


def load_replicons(folder: Path) -> dict[str, Replicon]:
    """Every sequence of the database files that ``config`` lists."""
    config = folder / "config"
    if not config.is_file():
        raise TypingDataError(f"{config}: missing")
    out: dict[str, Replicon] = {}
    for line in config.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        database = line.split("\t")[0].strip()
        path = folder / f"{database}.fsa"
        if not path.is_file():
            raise TypingDataError(f"{path}: listed in {config} but missing")
        for header, seq in read_fasta(path).items():
            out.setdefault(header, Replicon(header, header.split("_")[0], database, seq))
    return out


def default_path() -> Path:
    """``AMR_TYPING_DB``, the artifact's copy, or the checkout's ``build/typing-db``."""
    env = os.environ.get("AMR_TYPING_DB")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent  # chalicelib/
    shipped = package / "data" / "typing-db"
    if shipped.is_dir():
        return shipped
    return package.parent / "build" / "typing-db"


_LOCK = threading.Lock()
_CACHE: dict[str, TypingDB] = {}


def load_db(path: str | Path | None = None) -> TypingDB:
    """The typing data at ``path`` (default :func:`default_path`), cached per process."""
    folder = Path(path) if path is not None else default_path()
    key = str(folder)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        if not (folder / "mlst").is_dir() or not (folder / "plasmidfinder").is_dir():
            raise TypingDataError(f"typing data not found at {folder} (make typing-db)")
        manifest_path = folder / "MANIFEST.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
        schemes = {p.name: load_scheme(p) for p in sorted((folder / "mlst").iterdir()) if p.is_dir()}
        db = TypingDB(key, schemes, load_replicons(folder / "plasmidfinder"), manifest)
        _CACHE[key] = db
        return db


_NUMBER = re.compile(r"[^0-9]")


def allele_number(name: str) -> int:
    """Kleborate's ``number_from_hit``: the part after the last ``_`` (``gapA_12`` -> 12), else
    every digit of the name, else 0."""
    try:
        return int(name.split("_")[-1])
    except ValueError:
        pass
    try:
        return int(_NUMBER.sub("", name))
    except ValueError:
        return 0

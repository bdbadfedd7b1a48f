"""Loader for the ResFinder database (Debian package ``resfinder-db`` layout).

The database directory contains one FASTA file per drug-class database
(``<prefix>.fsa``, listed in ``config``), ``phenotypes.txt`` (allele → class and
phenotype list) and ``antibiotic_classes.txt`` (class → antibiotics).  We load
everything once per process (see :func:`load_db`) because a Lambda container
serves many jobs and the parse is the same every time.

Version: the Debian package ships no ``VERSION`` file.  If one exists its first
line is used; otherwise the version is ``sha256-<12 hex>``, the digest of the
``config``, the sorted ``*.fsa`` files and ``phenotypes.txt`` (names and bytes),
so any change of content changes the version and identical content on two
machines yields the same version.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB_DIR = "/usr/share/resfinder/db"
DB_ENV_VAR = "AMR_RESFINDER_DB"
DB_NAME = "resfinder"

# gene name, then "_<variant number>_", then the accession (which may itself
# contain underscores, e.g. NG_050611, NZ_JEMM01000040, or a ":101-988" range).
_ALLELE_RE = re.compile(r"^(?P<gene>.+?)_(?P<variant>\d+)_(?P<accession>.+)$")


class DatabaseError(Exception):
    """The database directory is missing or malformed (an operator problem, not user input)."""


@dataclass(frozen=True)
class Allele:
    """One reference sequence of the database with its annotation."""

    name: str
    gene: str
    variant: str
    accession: str
    sequence: str
    db_classes: tuple[str, ...]
    drug_class: str
    phenotypes: tuple[str, ...]
    mechanism: str = ""

    @property
    def length(self) -> int:
        """Allele length in bases (the denominator of coverage)."""
        return len(self.sequence)


@dataclass(frozen=True)
class ResfinderDB:
    """The loaded database: alleles by name plus class lookups."""

    path: str
    version: str
    alleles: dict[str, Allele]
    class_names: dict[str, str]  # config db_prefix -> display name
    antibiotic_classes: dict[str, str] = field(default_factory=dict)  # antibiotic (lower) -> class
    name: str = DB_NAME
    #: antibiotic (lower) -> every class it belongs to (lower), as ResFinder's class definitions
    class_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: allele name -> antibiotics (lower) of every phenotypes.txt row of that allele
    allele_antibiotics: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: antibiotics (lower) in the order phenotypes.txt first names them
    antibiotic_order: tuple[str, ...] = ()
    #: species panel (lower) -> antibiotics (lower), from phenotype_panels.txt
    panels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def class_of_antibiotic(self, antibiotic: str, fallback: str) -> str:
        """Drug class of one phenotype (antibiotic); ``fallback`` when the DB does not list it."""
        return self.antibiotic_classes.get(antibiotic.strip().lower(), fallback)


def parse_allele_name(name: str) -> tuple[str, str, str]:
    """Split ``blaKPC-2_1_AY034847`` into (gene, variant, accession).

    Names not following the pattern keep the whole name as gene and an empty accession,
    so an odd header never breaks loading.
    """
    m = _ALLELE_RE.match(name)
    if not m:
        return name, "", ""
    return m.group("gene"), m.group("variant"), m.group("accession")


def db_dir() -> str:
    """Database directory from ``AMR_RESFINDER_DB`` or the Debian default."""
    return os.environ.get(DB_ENV_VAR) or DEFAULT_DB_DIR


def _read_config(path: Path) -> dict[str, str]:
    """Class databases (prefix -> name) listed in ``config``, in file order."""
    cfg = path / "config"
    if not cfg.is_file():
        raise DatabaseError(f"ResFinder database config not found: {cfg}")
    out: dict[str, str] = {}
    for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\r\n").split("\t")
        prefix = cols[0].strip()
        out[prefix] = cols[1].strip() if len(cols) > 1 and cols[1].strip() else prefix
    if not out:
        raise DatabaseError(f"ResFinder database config lists no databases: {cfg}")
    return out


def _read_fsa(path: Path) -> list[tuple[str, str]]:
    """Records of one class FASTA (first header word, upper-case sequence)."""
    records: list[tuple[str, str]] = []
    name: str | None = None
    parts: list[str] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    records.append((name, "".join(parts).upper()))
                words = line[1:].split()
                name = words[0] if words else ""
                parts = []
            else:
                parts.append(line)
    if name is not None:
        records.append((name, "".join(parts).upper()))
    return records


def _split_phenotypes(text: str) -> tuple[str, ...]:
    """Comma-separated phenotype list, trimmed, empty items dropped, order kept, no repeats."""
    seen: dict[str, None] = {}
    for item in text.split(","):
        item = item.strip()
        if item:
            seen.setdefault(item, None)
    return tuple(seen)


def _read_phenotypes(path: Path) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """``phenotypes.txt``: allele name -> (class, phenotypes, mechanism); first row wins.

    Columns: Gene_accession no., Class, Phenotype (comma list), PMID, Mechanism of
    resistance, Notes, Required_gene.
    """
    out: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for cols in _rows(path / "phenotypes.txt", header=True, min_columns=3):
        mechanism = cols[4].strip() if len(cols) > 4 else ""
        out.setdefault(cols[0].strip(), (cols[1].strip(), _split_phenotypes(cols[2]), mechanism))
    return out


def _rows(f: Path, header: bool = False, min_columns: int = 1) -> Iterator[list[str]]:
    """Tab-separated rows of one database table: no blank or '#' lines (nor the header)."""
    if not f.is_file():
        return
    for i, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines()):
        if (header and i == 0) or not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) >= min_columns:
            yield cols


def _read_antibiotic_classes(path: Path) -> dict[str, str]:
    """``antibiotic_classes.txt``: antibiotic (lower-case) -> class; first listing wins."""
    out: dict[str, str] = {}
    for cols in _rows(path / "antibiotic_classes.txt"):
        cols = [c.strip() for c in cols]
        cls = cols[0]
        for abx in cols[1:]:
            if abx:
                out.setdefault(abx.lower(), cls)
    return out


def _antibiotic_list(text: str) -> tuple[str, ...]:
    """One phenotypes.txt cell as ResFinder's phenotype table reads it: lower case, and
    nothing for 'unknown'/'none' (see notes is no antibiotic)."""
    items = tuple(i.strip().lower() for i in text.split(",") if i.strip())
    if "unknown" in items or "none" in items:
        return ()
    return tuple(i for i in items if i != "see notes")


def _read_phenotype_table(path: Path) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Every row's antibiotics per allele, and the order antibiotics first appear in."""
    per_allele: dict[str, dict[str, None]] = {}
    order: dict[str, None] = {}
    for cols in _rows(path / "phenotypes.txt", header=True, min_columns=3):
        names = _antibiotic_list(cols[2])
        per_allele.setdefault(cols[0].strip(), {}).update(dict.fromkeys(names))
        order.update(dict.fromkeys(names))
    return {k: tuple(v) for k, v in per_allele.items()}, tuple(order)


def _read_class_lists(path: Path) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for cols in _rows(path / "antibiotic_classes.txt"):
        cols = [c.strip().lower() for c in cols]
        for abx in cols[1:]:
            if abx and cols[0] not in out.setdefault(abx, []):
                out[abx].append(cols[0])
    return {k: tuple(v) for k, v in out.items()}


def _read_panels(path: Path) -> dict[str, tuple[str, ...]]:
    """phenotype_panels.txt: `:Panel: name` starts a panel, `:Include: other` adds one."""
    panels: dict[str, list[str]] = {}
    includes: dict[str, list[str]] = {}
    f = path / "phenotype_panels.txt"
    if not f.is_file():
        return {}
    current = None
    for raw in f.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(":Panel:"):
            current = line[len(":Panel:") :].strip().lower()
            panels[current] = []
        elif line.startswith(":Include:") and current:
            includes.setdefault(current, []).append(line[len(":Include:") :].strip().lower())
        elif current:
            panels[current].append(line.lower())
    out = {}
    for name, abx in panels.items():
        merged = dict.fromkeys(abx)
        for other in includes.get(name, []):
            merged.update(dict.fromkeys(panels.get(other, [])))
        out[name] = tuple(merged)
    return out


def _version(path: Path, prefixes: list[str]) -> str:
    """VERSION file content, else a short content digest (see module docstring)."""
    vfile = path / "VERSION"
    if vfile.is_file():
        first = vfile.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if first and first[0].strip():
            return first[0].strip()
    h = hashlib.sha256()
    names = ["config"] + sorted(f"{p}.fsa" for p in prefixes) + ["phenotypes.txt"]
    for n in names:
        f = path / n
        if f.is_file():
            h.update(n.encode() + b"\0")
            h.update(f.read_bytes())
            h.update(b"\0")
    return "sha256-" + h.hexdigest()[:12]


def _load(path: Path) -> ResfinderDB:
    """Parse the database directory (uncached)."""
    if not path.is_dir():
        raise DatabaseError(f"ResFinder database directory not found: {path}")
    class_names = _read_config(path)
    phenos = _read_phenotypes(path)
    allele_antibiotics, antibiotic_order = _read_phenotype_table(path)
    sequences: dict[str, str] = {}
    classes_of: dict[str, list[str]] = {}
    for prefix in class_names:
        fsa = path / f"{prefix}.fsa"
        if not fsa.is_file():
            raise DatabaseError(f"ResFinder database file listed in config is missing: {fsa}")
        for name, seq in _read_fsa(fsa):
            if not name or not seq:
                continue
            # The same allele may be listed in several class files (e.g. OqxA in
            # phenicol and quinolone); keep one sequence, remember every class.
            sequences.setdefault(name, seq)
            classes_of.setdefault(name, [])
            if prefix not in classes_of[name]:
                classes_of[name].append(prefix)
    if not sequences:
        raise DatabaseError(f"ResFinder database has no sequences: {path}")
    alleles: dict[str, Allele] = {}
    for name, seq in sequences.items():
        gene, variant, accession = parse_allele_name(name)
        prefixes = tuple(classes_of[name])
        cls, phen, mechanism = phenos.get(name, ("", (), ""))
        if not cls:
            cls = ", ".join(class_names[p] for p in prefixes)
        alleles[name] = Allele(
            name=name,
            gene=gene,
            variant=variant,
            accession=accession,
            sequence=seq,
            db_classes=prefixes,
            drug_class=cls,
            phenotypes=phen,
            mechanism=mechanism,
        )
    return ResfinderDB(
        path=str(path),
        version=_version(path, list(class_names)),
        alleles=alleles,
        class_names=class_names,
        antibiotic_classes=_read_antibiotic_classes(path),
        class_lists=_read_class_lists(path),
        allele_antibiotics=allele_antibiotics,
        antibiotic_order=antibiotic_order,
        panels=_read_panels(path),
    )


@functools.lru_cache(maxsize=4)
def _load_cached(resolved: str) -> ResfinderDB:
    return _load(Path(resolved))


def load_db(path: str | os.PathLike[str] | None = None) -> ResfinderDB:
    """Load the database once per process (cached by resolved directory).

    Raises :class:`DatabaseError` when the directory, its ``config`` or a listed
    ``.fsa`` file is missing.
    """
    resolved = str(Path(path if path is not None else db_dir()).resolve())
    return _load_cached(resolved)

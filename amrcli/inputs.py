"""What `amr submit` makes of its arguments: samples (single files or read pairs), job names,
the file names sent to the service, and `--param KEY=VALUE` values.

Everything here is checked before the first request, so a typo creates no job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amrcli.errors import CliError, Exit

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fas")
FASTQ_SUFFIXES = (".fq", ".fastq")
#: `{sample}_R1`, `{sample}_2`, Illumina's `{sample}_S1_L001_R1_001` (the mate suffix of design §12).
_MATE = re.compile(r"^(?P<sample>.+?)_R?(?P<mate>[12])(?:_001)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 128
MAX_FILENAME = 128
_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$")


@dataclass(frozen=True)
class Sample:
    """One job: a genome, a single-end read file, or a read pair (R1 first)."""

    name: str
    files: tuple[Path, ...]

    @property
    def paired(self) -> bool:
        return len(self.files) == 2


def split_suffix(name: str) -> tuple[str, str]:
    """(`stem`, `suffix`) with the format suffix and an optional `.gz`: `a_R1`, `.fastq.gz`."""
    lower = name.lower()
    gz = ".gz" if lower.endswith(".gz") else ""
    base = lower[: len(lower) - len(gz)]
    for suffix in FASTA_SUFFIXES + FASTQ_SUFFIXES:
        if base.endswith(suffix):
            cut = len(base) - len(suffix)
            return name[:cut], name[cut:]
    return name, ""


def is_fastq(name: str) -> bool:
    return split_suffix(name)[1].lower().removesuffix(".gz") in FASTQ_SUFFIXES


def _checked(paths: Iterable[Path]) -> list[Path]:
    seen: dict[Path, Path] = {}
    for path in paths:
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise CliError(f"{path} {what}", Exit.USAGE, "Nothing was submitted.")
        if not split_suffix(path.name)[1]:
            raise CliError(
                f"{path.name}: not a genome or reads file",
                Exit.USAGE,
                "Give FASTA (.fa .fasta .fna .fas) or FASTQ (.fq .fastq), optionally .gz. Nothing was submitted.",
            )
        seen.setdefault(path.resolve(), path)
    return list(seen.values())


def group_samples(paths: Iterable[Path]) -> list[Sample]:
    """One sample per file, except FASTQ mates `X_R1`/`X_R2` (or `X_1`/`X_2`), which pair up.

    A lone mate is a single-end sample; two files claiming the same mate of one sample
    (`X_R1.fq` and `X_1.fq`) are ambiguous and refused.
    """
    samples: list[Sample] = []
    mates: dict[str, dict[str, Path]] = {}
    order: list[str] = []
    for path in _checked(paths):
        stem, _ = split_suffix(path.name)
        match = _MATE.match(stem) if is_fastq(path.name) else None
        if not match:
            samples.append(Sample(stem, (path,)))
            continue
        sample, mate = match.group("sample"), match.group("mate")
        pair = mates.setdefault(sample, {})
        if mate in pair:
            raise CliError(
                f"{pair[mate].name} and {path.name} are both mate {mate} of sample {sample}",
                Exit.USAGE,
                "Give each sample's R1 and R2 once. Nothing was submitted.",
            )
        if sample not in order:
            order.append(sample)
        pair[mate] = path
    for sample in order:
        pair = mates[sample]
        samples.append(Sample(sample, tuple(pair[m] for m in ("1", "2") if m in pair)))
    return samples


def job_name(sample: Sample, name: str | None, count: int) -> str:
    """`--name` for a single sample; `NAME SAMPLE` when one name covers several."""
    text = sample.name if not name else name if count == 1 else f"{name} {sample.name}"
    return text[:MAX_NAME]


def service_filename(path: Path) -> str:
    """The name the service stores: its key alphabet (A-Z a-z 0-9 . _ -), the suffix kept."""
    stem, suffix = split_suffix(path.name)
    safe = _UNSAFE.sub("_", stem).lstrip(".") or "input"
    return safe[: MAX_FILENAME - len(suffix)] + suffix.lower()


def parse_value(text: str) -> Any:
    """`true`/`false`, integers and decimals become JSON values; anything else stays text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _INT.match(text.strip()):
        return int(text)
    if _FLOAT.match(text.strip()):
        return float(text)
    return text


def parse_params(items: Iterable[str], species: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"--param {item!r}: expected KEY=VALUE, e.g. min_identity=0.95", Exit.USAGE)
        params[key] = parse_value(value)
    if species is not None:
        params["species"] = species
    return params

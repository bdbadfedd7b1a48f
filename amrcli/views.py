"""Rows people read, derived from the service's documents (jobs, predictions).

Plain functions over plain data. They accept both shapes the service has had:
the phenotype table (`phenotypes`, `summary.resistant`, design §12) when present, else
the acquired-gene profile (`resistance` = {class: [antibiotics]}) it derives from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

RESISTANT = "Resistant"


def resistant_antibiotics(job: dict[str, Any]) -> list[str]:
    """The antibiotics a finished job predicts resistance to, from its summary."""
    summary = job.get("summary") or {}
    if isinstance(summary.get("resistant"), list):
        return [str(a) for a in summary["resistant"]]
    found: dict[str, str] = {}  # one entry per antibiotic, however a class spells it
    for antibiotics in (summary.get("resistance") or {}).values():
        for name in sorted(str(a) for a in antibiotics):
            found.setdefault(name.lower(), name)
    return [found[key] for key in sorted(found)]


def _genes_for(genes: Iterable[dict[str, Any]], antibiotic: str, drug_class: str) -> list[str]:
    return sorted(
        {
            str(g.get("gene"))
            for g in genes
            if antibiotic in (g.get("phenotypes") or []) and g.get("drug_class", drug_class) == drug_class
        }
    )


def phenotype_rows(predictions: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per antibiotic: resistant ones first, then by class and name.

    Rows: antimicrobial, class, phenotype, match (None without a phenotype table),
    determinants (genes and mutations).
    """
    rows: list[dict[str, Any]] = []
    if isinstance(predictions.get("phenotypes"), list):
        for p in predictions["phenotypes"]:
            rows.append(
                {
                    "antimicrobial": str(p.get("antimicrobial", "")),
                    "class": str(p.get("class", "")),
                    "phenotype": str(p.get("phenotype", "")),
                    "match": p.get("match"),
                    "determinants": [*(p.get("genes") or []), *(p.get("mutations") or [])],
                }
            )
    else:
        genes = predictions.get("genes") or []
        for drug_class, antibiotics in (predictions.get("resistance") or {}).items():
            for antibiotic in antibiotics:
                rows.append(
                    {
                        "antimicrobial": str(antibiotic),
                        "class": str(drug_class),
                        "phenotype": RESISTANT,
                        "match": None,
                        "determinants": _genes_for(genes, antibiotic, drug_class),
                    }
                )
    rows.sort(key=lambda r: (r["phenotype"] != RESISTANT, r["class"].lower(), r["antimicrobial"].lower()))
    return rows


def gene_rows(predictions: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for g in predictions.get("genes") or []:
        where = f"{g.get('contig', '')}:{g.get('start', '')}-{g.get('end', '')}{g.get('strand', '')}"
        rows.append(
            [
                g.get("gene"),
                g.get("drug_class"),
                _percent(g.get("identity")),
                _percent(g.get("coverage")),
                where,
                location_text(g.get("location")),
            ]
        )
    return rows


def location_text(location: Any) -> str:
    """A gene's ``location`` in words: ``IncFII(K) contig``, ``chromosome-like``, or ""."""
    if not isinstance(location, dict):
        return ""
    if location.get("kind") == "plasmid":
        return ", ".join(location.get("replicons") or []) + " contig"
    return "chromosome-like"


def typing_rows(predictions: dict[str, Any]) -> tuple[list[list[Any]], list[list[Any]]]:
    """MLST rows (scheme, ST, alleles) and replicon rows of ``predictions.json`` (design §20)."""
    mlst = [
        [
            c.get("label") or c.get("scheme"),
            c.get("st"),
            " ".join(f"{locus}({allele})" for locus, allele in (c.get("alleles") or {}).items()),
        ]
        for c in predictions.get("mlst") or []
    ]
    plasmids = [
        [
            p.get("name"),
            _percent(p.get("identity")),
            _percent(p.get("coverage")),
            p.get("contig"),
            f"{p.get('start')}-{p.get('end')}{p.get('strand', '')}",
        ]
        for p in predictions.get("plasmids") or []
    ]
    return mlst, plasmids


def _percent(value: Any) -> str:
    return f"{float(value):.1f}" if isinstance(value, (int, float)) else ""


def job_fields(job: dict[str, Any]) -> list[tuple[str, Any]]:
    """`amr show`: the job as key/value lines."""
    source = job.get("input") or {}
    size = source.get("size")
    return [
        ("job", job.get("job_id")),
        ("name", job.get("job_name")),
        ("status", job.get("status")),
        ("progress", f"{float(job.get('progress') or 0):g}%"),
        ("created", job.get("created_at")),
        ("started", job.get("started_at")),
        ("completed", job.get("completed_at")),
        ("duration", f"{job['duration_seconds']:g} s" if job.get("duration_seconds") is not None else None),
        ("input", f"{source.get('filename')}" + (f" ({human_bytes(size)})" if size is not None else "")),
        (
            "params",
            ", ".join(
                f"{k}={json.dumps(v) if isinstance(v, bool) else v}"
                for k, v in sorted((job.get("params") or {}).items())
            ),
        ),
        ("error", job.get("error")),
        ("resistant", ", ".join(resistant_antibiotics(job)) if job.get("summary") else None),
        ("genes", ", ".join((job.get("summary") or {}).get("gene_names") or [])),
        ("ST", (job.get("summary") or {}).get("st")),
        ("replicons", ", ".join((job.get("summary") or {}).get("replicons") or [])),
    ]


def human_bytes(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"

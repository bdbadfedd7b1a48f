"""Render a :class:`chalicelib.prediction.results.Prediction` into the result files of design §6.

* ``predictions.json`` — the design's shape (job_id, database, genes, resistance, stats);
* ``predictions.tsv`` — ResFinder's ``ResFinder_results_tab.txt`` columns, so users
  and tools that read ResFinder output can read ours;
* ``hamronization.tsv`` — the hAMRonization 1.x table (genes and point mutations), so
  results combine with other AMR tools' hAMRonized output;
* ``pointfinder.tsv`` — ResFinder's ``PointFinder_results.txt`` columns (header only
  when the job searched no point mutations);
* ``phenotypes.tsv`` — ResFinder's ``pheno_table.txt`` columns, every antibiotic;
* :func:`summary` — a few counts and the resistance profile, small enough for a
  DynamoDB job item (ints, strings and lists only: no floats, which boto3 rejects).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.core import tsv, version
from chalicelib.jobs import s3layout
from chalicelib.prediction.phenotypes import TSV_COLUMNS as PHENOTYPE_COLUMNS
from chalicelib.prediction.pointfinder import MutationCall
from chalicelib.prediction.results import GeneHit, Prediction
from chalicelib.prediction.typing_render import gene_location, mlst_tsv, plasmids_tsv, summary_fields, typing_fields

SOFTWARE_NAME = version.SOFTWARE_NAME
SOFTWARE_VERSION = version.software_version()

RESFINDER_TSV_COLUMNS = (
    "Resistance gene",
    "Identity",
    "Alignment Length/Gene Length",
    "Coverage",
    "Position in reference",
    "Contig",
    "Position in contig",
    "Phenotype",
    "Accession no.",
)

POINTFINDER_TSV_COLUMNS = ("Mutation", "Nucleotide change", "Amino acid change", "Resistance", "PMID")

# hAMRonization specification column order (mandatory fields first, then optional).
HAMRONIZATION_COLUMNS = (
    "input_file_name",
    "gene_symbol",
    "gene_name",
    "reference_database_name",
    "reference_database_version",
    "reference_accession",
    "analysis_software_name",
    "analysis_software_version",
    "genetic_variation_type",
    "antimicrobial_agent",
    "coverage_percentage",
    "coverage_depth",
    "coverage_ratio",
    "drug_class",
    "input_gene_length",
    "input_gene_start",
    "input_gene_stop",
    "input_protein_length",
    "input_protein_start",
    "input_protein_stop",
    "input_sequence_id",
    "nucleotide_mutation",
    "nucleotide_mutation_interpretation",
    "predicted_phenotype",
    "predicted_phenotype_confidence_level",
    "amino_acid_mutation",
    "amino_acid_mutation_interpretation",
    "reference_gene_length",
    "reference_gene_start",
    "reference_gene_stop",
    "reference_protein_length",
    "reference_protein_start",
    "reference_protein_stop",
    "resistance_mechanism",
    "strand_orientation",
    "sequence_identity",
)


def predictions_dict(prediction: Prediction, job_id: str) -> dict[str, Any]:
    """The ``predictions.json`` document (design §6)."""
    table = prediction.phenotypes
    point = prediction.point
    return {
        "job_id": job_id,
        "database": {"name": prediction.database_name, "version": prediction.database_version},
        "point_database": (
            {"name": "pointfinder", "version": prediction.point_database_version} if point is not None else None
        ),
        "species": prediction.species,
        "genes": [_gene(g, prediction) for g in prediction.genes],
        "mutations": [m.to_dict() for m in point.mutations] if point else [],
        "resistance": {cls: list(p) for cls, p in prediction.resistance.items()},
        "resistant": prediction.resistant,
        "phenotypes": [r.to_dict() for r in table.rows] if table else [],
        "phenotype_panel": (
            {"name": table.panel_name, "phenotypes": [r.to_dict() for r in table.panel]}
            if table and table.panel_name
            else None
        ),
        **typing_fields(prediction.typing),
        "stats": prediction.stats(),
    }


def _gene(g: GeneHit, prediction: Prediction) -> dict[str, Any]:
    """A gene entry with its ``location`` when the job typed (design §20)."""
    data = g.to_dict()
    location = gene_location(prediction.typing, g.contig)
    if location is not None:
        data["location"] = location
    return data


def predictions_json(prediction: Prediction, job_id: str) -> str:
    """``predictions.json`` text (UTF-8, keys in the design's order)."""
    return json.dumps(predictions_dict(prediction, job_id), indent=2, ensure_ascii=False) + "\n"


def _fmt_pct(x: float) -> str:
    return f"{x:.2f}"


def predictions_tsv(prediction: Prediction) -> str:
    """``predictions.tsv`` with ResFinder's result-table columns."""
    rows = [
        [
            g.gene,
            _fmt_pct(g.identity),
            f"{g.alignment_length}/{g.allele_length}",
            _fmt_pct(g.coverage),
            f"{g.ref_start}..{g.ref_end}",
            g.contig,
            f"{g.start}..{g.end}",
            ", ".join(g.phenotypes),
            g.accession,
        ]
        for g in prediction.genes
    ]
    return tsv.table(RESFINDER_TSV_COLUMNS, rows)


def pointfinder_tsv(prediction: Prediction) -> str:
    """``pointfinder.tsv`` with the columns of ResFinder's ``PointFinder_results.txt``."""
    calls = prediction.point.mutations if prediction.point else []
    rows = [
        [m.name, m.nucleotide_change, m.amino_acid_change, ", ".join(m.resistance).title(), ", ".join(m.pmids)]
        for m in calls
    ]
    return tsv.table(POINTFINDER_TSV_COLUMNS, rows)


def phenotypes_tsv(prediction: Prediction) -> str:
    """``phenotypes.tsv`` with the columns of ResFinder's ``pheno_table.txt``."""
    rows = [r.cells() for r in prediction.phenotypes.rows] if prediction.phenotypes else []
    return tsv.table(PHENOTYPE_COLUMNS, rows)


def _mutation_row(m: MutationCall, prediction: Prediction, input_file_name: str) -> dict[str, Any]:
    protein = not m.mutation.nucleotide
    return {
        "input_file_name": input_file_name,
        "gene_symbol": m.gene,
        "gene_name": m.gene,
        "reference_database_name": "pointfinder",
        "reference_database_version": prediction.point_database_version,
        "reference_accession": m.template,
        "analysis_software_name": SOFTWARE_NAME,
        "analysis_software_version": SOFTWARE_VERSION,
        "genetic_variation_type": "protein_variant_detected" if protein else "nucleotide_variant_detected",
        "antimicrobial_agent": ", ".join(m.resistance),
        "input_sequence_id": m.contig,
        "input_gene_start": m.mutation.contig_position,
        "nucleotide_mutation": m.mutation.name if not protein else f"{m.mutation.ref}>{m.mutation.alt}",
        "amino_acid_mutation": m.mutation.name if protein else "",
        "predicted_phenotype": ", ".join(m.resistance),
        "coverage_depth": "" if m.depth is None else m.depth,
    }


def _hamronization_row(g: GeneHit, prediction: Prediction, input_file_name: str) -> dict[str, Any]:
    return {
        "input_file_name": input_file_name,
        "gene_symbol": g.gene,
        "gene_name": g.gene,
        "reference_database_name": prediction.database_name,
        "reference_database_version": prediction.database_version,
        "reference_accession": g.accession,
        "analysis_software_name": SOFTWARE_NAME,
        "analysis_software_version": SOFTWARE_VERSION,
        "genetic_variation_type": "gene_presence_detected",
        "antimicrobial_agent": ", ".join(g.phenotypes),
        "coverage_percentage": _fmt_pct(g.coverage),
        "coverage_depth": "" if g.depth is None else g.depth,
        "drug_class": g.drug_class,
        "input_gene_length": g.end - g.start + 1,
        "input_gene_start": g.start,
        "input_gene_stop": g.end,
        "input_sequence_id": g.contig,
        "predicted_phenotype": ", ".join(g.phenotypes),
        "reference_gene_length": g.allele_length,
        "reference_gene_start": g.ref_start,
        "reference_gene_stop": g.ref_end,
        "resistance_mechanism": g.mechanism,
        "strand_orientation": g.strand,
        "sequence_identity": _fmt_pct(g.identity),
    }


def hamronization_tsv(prediction: Prediction, input_file_name: str) -> str:
    """``hamronization.tsv``: one hAMRonization row per called gene and point mutation (empty
    cells for unused fields)."""
    values = [_hamronization_row(g, prediction, input_file_name) for g in prediction.genes]
    if prediction.point:
        values += [_mutation_row(m, prediction, input_file_name) for m in prediction.point.mutations]
    rows = [[v.get(col, "") for col in HAMRONIZATION_COLUMNS] for v in values]
    return tsv.table(HAMRONIZATION_COLUMNS, rows)


def summary(prediction: Prediction, max_gene_names: int = 100) -> dict[str, Any]:
    """Small job-item summary: counts, gene names (capped) and the resistance profile."""
    names = sorted({g.gene for g in prediction.genes})
    mutations = [m.name for m in prediction.point.mutations] if prediction.point else []
    return {
        "genes": len(prediction.genes),
        "drug_classes": len(prediction.resistance),
        "gene_names": names[:max_gene_names],
        "resistance": {cls: list(p) for cls, p in prediction.resistance.items()},
        "species": prediction.species,
        "mutations": len(mutations),
        "mutation_names": mutations[:max_gene_names],
        "resistant": prediction.resistant[:max_gene_names],
        "contigs": prediction.contigs,
        "bases": prediction.bases,
        "database_version": prediction.database_version,
        **({"reads": prediction.reads} if prediction.reads is not None else {}),
        **summary_fields(prediction.typing),
    }


def render_all(prediction: Prediction, job_id: str, input_file_name: str) -> dict[str, str]:
    """All result files by name, ready to upload (``{"predictions.json": text, ...}``)."""
    return {
        s3layout.PREDICTIONS_JSON: predictions_json(prediction, job_id),
        s3layout.PREDICTIONS_TSV: predictions_tsv(prediction),
        s3layout.HAMRONIZATION_TSV: hamronization_tsv(prediction, input_file_name),
        s3layout.POINTFINDER_TSV: pointfinder_tsv(prediction),
        s3layout.PHENOTYPES_TSV: phenotypes_tsv(prediction),
        s3layout.MLST_TSV: mlst_tsv(prediction.typing),
        s3layout.PLASMIDS_TSV: plasmids_tsv(prediction.typing),
    }

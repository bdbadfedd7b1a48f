"""Request and response models of the jobs API (design §8), in one place.

The route handlers validate with these models and `chalicelib.gateway.openapi` derives the
OpenAPI document from them, so the description cannot drift from the behaviour.
Job parameter *rules* belong to `chalicelib.jobs.params.PredictParams`; `JobParams`
declares the same fields for the document (types, defaults, bounds) and then asks
`PredictParams` for the verdict, so there is one authority. The API additionally caps
sizes (`MAX_SEGMENT_LENGTH`, `MAX_BATCH_SIZE`): a request must not be able to ask for
more memory than a Lambda function has, nor for a number DynamoDB cannot store.
"""

from __future__ import annotations

import unicodedata
from dataclasses import fields as dataclass_fields
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from chalicelib.core.pagination import MAX_TOKEN_LENGTH
from chalicelib.core.schemas import QueryModel, RequestModel, ResponseModel
from chalicelib.core.tables import STATUSES
from chalicelib.jobs import s3layout
from chalicelib.jobs.params import SPECIES_HELP, SUPPORTED_MODELS, PredictParams, normalise_species

MAX_SEGMENT_LENGTH = 10_000_000
MAX_BATCH_SIZE = 1024
MAX_JOB_NAME = 128
DEFAULT_FILENAME = "genome.fasta"
#: Floats are stored rounded: DynamoDB cannot hold e.g. 5e-324 and nobody means it.
FLOAT_DIGITS = 6

Status = Literal["Submitted", "Running", "Completed", "Error", "Archived", "Cancelled"]
assert set(Status.__args__) == set(STATUSES)  # type: ignore[attr-defined]
ModelName = Literal[SUPPORTED_MODELS]  # type: ignore[valid-type]


def _storable_text(value: str) -> str:
    """Text that survives UTF-8 storage and logs: no lone surrogates, no control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("must not contain control characters")
    return value


def _valid_filename(value: str) -> str:
    if not s3layout.valid_filename(value):
        raise ValueError(
            "must be a plain FASTA or FASTQ file name (letters, digits, '.', '_', '-'; up to 128 characters) "
            "ending in .fa, .fasta, .fna, .fas (assembly) or .fq, .fastq (reads), optionally followed by .gz"
        )
    return value


SafeText = Annotated[str, AfterValidator(_storable_text)]
JobName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_JOB_NAME),
    AfterValidator(_storable_text),
]
Filename = Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_valid_filename)]
PageToken = Annotated[str, StringConstraints(max_length=MAX_TOKEN_LENGTH), AfterValidator(_storable_text)]
BatchId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    Field(description="A batch id (lower-case UUID)", json_schema_extra={"format": "uuid"}),
]
Timestamp = Annotated[str, Field(description="ISO-8601 UTC with milliseconds, e.g. 2026-11-24T19:12:00.123Z")]


# Any: each field's own annotation types its default (dataclass fields here all have one).
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclass_fields(PredictParams)}


class JobParams(RequestModel):
    """Prediction parameters of design §6; all optional."""

    model_name: ModelName = Field(_DEFAULTS["model_name"], description="Reference database / predictor")
    segment_length: int = Field(_DEFAULTS["segment_length"], ge=1, le=MAX_SEGMENT_LENGTH)
    segment_overlap: int = Field(
        _DEFAULTS["segment_overlap"], ge=0, le=MAX_SEGMENT_LENGTH - 1, description="Must be < segment_length"
    )
    batch_size: int = Field(_DEFAULTS["batch_size"], ge=1, le=MAX_BATCH_SIZE)
    use_cpu: bool = Field(_DEFAULTS["use_cpu"], description="Accepted for compatibility; prediction runs on CPU")
    min_identity: float = Field(_DEFAULTS["min_identity"], ge=0.0, le=1.0)
    min_coverage: float = Field(_DEFAULTS["min_coverage"], ge=0.0, le=1.0)
    species: str = Field(
        _DEFAULTS["species"],
        max_length=64,
        description=f"Species for the chromosomal point-mutation search: {SPECIES_HELP}; 'other': none",
    )
    point_mutations: bool | None = Field(
        None, description="Search the species' PointFinder mutations; omitted or null: true when a species is given"
    )

    min_depth: float = Field(
        _DEFAULTS["min_depth"],
        ge=0.0,
        le=10_000.0,
        description="Reads only: least mean read depth of a called gene, and least reads at a position "
        "for its point mutations to be read",
    )
    min_allele_fraction: float = Field(
        _DEFAULTS["min_allele_fraction"],
        gt=0.0,
        le=1.0,
        description="Reads only: least fraction of the reads at a position that must show a change "
        "for it to be called (0.3: a mixed population at 50 % is called)",
    )

    @field_validator("species")
    @classmethod
    def _known_species(cls, value: str) -> str:
        """Checked here too so the error names `params.species`."""
        normalise_species(value)
        return value

    @model_validator(mode="after")
    def _predictor_rules(self) -> JobParams:
        """PredictParams has the final word (e.g. segment_overlap < segment_length)."""
        PredictParams.from_dict(self.model_dump())  # ValueError -> a 400 naming the rule
        return self

    def to_store(self) -> dict[str, Any]:
        """The effective parameters, as stored with the job and shown back."""
        data = PredictParams.from_dict(self.model_dump()).to_dict()
        for name in ("min_identity", "min_coverage", "min_depth", "min_allele_fraction"):
            data[name] = round(float(data[name]), FLOAT_DIGITS)
        return data


class CreateJobRequest(RequestModel):
    job_name: JobName
    params: JobParams | None = Field(None, description="Omitted or null: every parameter at its default")
    filename: Filename | None = Field(
        None,
        description=f"Name of the FASTA (assembly) or FASTQ (reads) file you will upload; omitted or null: "
        f"{DEFAULT_FILENAME}",
    )
    mate_filename: Filename | None = Field(
        None,
        description="Paired reads: name of the second mate's FASTQ file (then `filename` is the first "
        "mate's); the answer has a second presigned POST, `mate_upload`, and the job starts when both "
        "files have arrived",
    )

    @model_validator(mode="after")
    def _pair(self) -> CreateJobRequest:
        check_mates(self.filename, self.mate_filename)
        return self


def check_mates(filename: str | None, mate_filename: str | None) -> None:
    """A read pair names two different FASTQ files (jobs and batch samples alike)."""
    if mate_filename is None:
        return
    if not filename or not s3layout.is_fastq_name(filename):
        raise ValueError("mate_filename needs filename to name the first mate's FASTQ file (.fq or .fastq)")
    if not s3layout.is_fastq_name(mate_filename):
        raise ValueError("mate_filename must name a FASTQ file (.fq or .fastq, optionally .gz)")
    if mate_filename == filename:
        raise ValueError("mate_filename must differ from filename")


class JobListQuery(QueryModel):
    status: Status | None = None
    limit: int = Field(50, ge=1, le=100)
    next_token: PageToken | None = None
    scope: Literal["mine", "all"] = Field(
        "mine",
        description="'all': every user's jobs in one status (administrators; needs `status`), "
        "newest status change first",
    )
    batch_id: BatchId | None = Field(
        None, description="Only the jobs of this batch, in submission order (not with status or scope=all)"
    )

    @model_validator(mode="after")
    def _all_needs_status(self) -> JobListQuery:
        if self.scope == "all" and self.status is None:
            raise ValueError("scope=all lists one status at a time: add status=Submitted|Running|...")
        if self.batch_id is not None and (self.status is not None or self.scope == "all"):
            raise ValueError("batch_id lists a whole batch of yours: leave out status and scope")
        return self


class LogsQuery(QueryModel):
    limit: int = Field(100, ge=1, le=500)
    next_token: PageToken | None = None


class StatsQuery(QueryModel):
    scope: Literal["mine", "all"] = Field("mine", description="'all' (every user's jobs) is for administrators")


class MateInput(ResponseModel):
    filename: str
    key: str = Field(description="Object key of the second mate in the upload bucket")
    size: int | None = Field(None, description="Bytes, once the job has started")


class JobInput(ResponseModel):
    filename: str | None = None
    key: str | None = Field(None, description="Object key of the input in the upload bucket")
    size: int | None = Field(None, description="Bytes, once the upload has arrived")
    mate: MateInput | None = Field(None, description="Paired reads: the second mate")


class JobOut(ResponseModel):
    """A job as the API shows it (design §8)."""

    job_id: str = Field(json_schema_extra={"format": "uuid"})
    user_id: str = Field(description="The owner's user id")
    job_name: str
    status: Status
    progress: float = Field(ge=0, le=100)
    created_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    updated_at: Timestamp
    duration_seconds: float | None = Field(None, description="Running time so far, or in total once finished")
    error: str | None = None
    params: dict[str, Any]
    input: JobInput
    summary: dict[str, Any] | None = None
    batch_id: str | None = Field(None, description="The batch this job is a sample of")


class UploadOut(ResponseModel):
    """A presigned POST: send `fields` plus the file (field `file`) as multipart/form-data to `url`."""

    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int


class CreateJobResponse(ResponseModel):
    job: JobOut
    upload: UploadOut
    mate_upload: UploadOut | None = Field(None, description="Paired reads: the presigned POST of the second mate")


class JobListResponse(ResponseModel):
    jobs: list[JobOut]
    next_token: str | None = None


class EventOut(ResponseModel):
    timestamp: Timestamp
    level: str
    message: str
    data: dict[str, Any] | None = None


class LogsResponse(ResponseModel):
    events: list[EventOut]
    next_token: str | None = None


class MutationOut(ResponseModel):
    """A known chromosomal point mutation (design §12), named as ResFinder names it."""

    gene: str
    mutation: str = Field(description="e.g. 'gyrA p.S83L', '23S r.2058A>G', 'ampC-promoter-size-53bp n.-42C>T'")
    nucleotide_change: str = Field(description="e.g. 'TCG -> TTG'")
    amino_acid_change: str = Field(description="e.g. 'S -> L', 'RNA mutations' or 'Promoter mutations'")
    type: Literal["substitution", "insertion", "deletion"]
    position: int = Field(description="Codon number, or nucleotide position (negative: upstream of the gene)")
    contig: str
    contig_position: int = Field(description="1-based position on the contig of the changed codon or base")
    resistance: list[str] = Field(description="Antibiotics the database lists for this change")
    pmids: list[str]
    reference: str = Field(description="PointFinder reference sequence")
    depth: float | None = None


class PhenotypeOut(ResponseModel):
    """One row of the phenotype table (ResFinder's pheno_table.txt)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    antimicrobial: str
    drug_class: str = Field(alias="class")
    phenotype: Literal["Resistant", "No resistance", "NA"]
    match: int | None = Field(None, ge=0, le=3, description="0 none; 1 partial; 2 < 100 % identity; 3 exact")
    genetic_background: str = Field(description="Genes 'gene (gene_accession)' and mutations 'gene (p.S83L)'")
    genes: list[str]
    mutations: list[str]


class PhenotypePanelOut(ResponseModel):
    name: str = Field(description="ResFinder's panel of the species, e.g. 'escherichia coli'")
    phenotypes: list[PhenotypeOut]


class LocationOut(ResponseModel):
    """Where a resistance gene sits (design §20)."""

    kind: Literal["plasmid", "chromosome-like"] = Field(
        description="plasmid: its contig carries a replicon; chromosome-like: no replicon on its contig"
    )
    replicons: list[str] = Field(description="PlasmidFinder names of the replicons on the gene's contig")


class GeneOut(BaseModel):
    """One acquired resistance gene (design §6), with its location when the job typed."""

    model_config = ConfigDict(extra="allow")

    gene: str
    allele: str
    accession: str
    contig: str
    start: int = Field(description="1-based inclusive")
    end: int
    strand: Literal["+", "-"]
    identity: float = Field(description="percent")
    coverage: float = Field(description="percent of the allele")
    drug_class: str
    phenotypes: list[str]
    depth: float | None = Field(None, description="reads jobs: mean depth over the allele")
    location: LocationOut | None = None


class MlstLocusOut(ResponseModel):
    locus: str
    allele: str = Field(description="Kleborate's notation: '3' exact, '3*' closest inexact allele, '-' missing")
    exact: bool
    closest: str | None = Field(description="The allele behind the call, e.g. 'gapA_3'")
    identity: float | None
    coverage: float | None = Field(description="percent of the allele")
    contig: str | None
    start: int | None
    end: int | None
    strand: Literal["+", "-"] | None


class MlstOut(ResponseModel):
    """One MLST scheme's typing, with Kleborate 3.2.4's semantics (design §20)."""

    scheme: str = Field(description="klebsiella_pneumo_complex, klebsiella_oxytoca_complex, escherichia_achtman, ...")
    label: str
    st: str = Field(description="'ST258'; 'ST258-1LV' (loci not exactly matching the ST); 'NA' (too few exact loci)")
    clonal_complex: str | None
    alleles: dict[str, str] = Field(description="locus -> allele, as Kleborate writes them")
    loci: list[MlstLocusOut]
    selected_by: Literal["species", "best match", "requested"]


class RepliconOut(ResponseModel):
    """A PlasmidFinder replicon found on a contig (>= 95 % identity over >= 60 % of it)."""

    name: str = Field(description="e.g. 'IncFII(K)'")
    reference: str = Field(description="PlasmidFinder sequence, e.g. 'IncFII(K)_1__CP000648'")
    accession: str
    database: str = Field(description="PlasmidFinder database file, e.g. 'enterobacteriales'")
    contig: str
    start: int
    end: int
    strand: Literal["+", "-"]
    identity: float
    coverage: float


class ResultsResponse(BaseModel):
    """The job's predictions.json (design §6) plus presigned links to every result file.

    For an Archived job the links point at the archived, gzip-compressed copies, so
    their names end in `.gz`.
    """

    model_config = ConfigDict(extra="allow")

    job_id: str
    database: dict[str, Any]
    point_database: dict[str, Any] | None = Field(None, description="PointFinder name and version, when searched")
    species: str | None = Field(None, description="PointFinder species key; 'other': no point-mutation search")
    genes: list[GeneOut]
    mutations: list[MutationOut] = Field(default_factory=list)
    resistance: dict[str, list[str]]
    resistant: list[str] = Field(default_factory=list, description="Antibiotics predicted Resistant")
    phenotypes: list[PhenotypeOut] = Field(default_factory=list, description="Every antibiotic of the databases")
    phenotype_panel: PhenotypePanelOut | None = None
    mlst: list[MlstOut] = Field(
        default_factory=list, description="MLST of the sample's scheme(s); the first is its ST (design §20)"
    )
    plasmids: list[RepliconOut] = Field(default_factory=list, description="Plasmid replicons (design §20)")
    typing_database: dict[str, Any] | None = Field(
        None, description="MLST data source (Kleborate version) and PlasmidFinder version and commit"
    )
    stats: dict[str, Any]
    download_urls: dict[str, str]


class ModelCount(ResponseModel):
    model_name: str
    count: int


class StatsResponse(ResponseModel):
    scope: Literal["mine", "all"]
    total: int
    by_status: dict[str, int]
    success_rate: float | None = Field(None, description="Completed / (Completed + Error), lifetime")
    avg_duration_seconds: float | None = None
    top_models: list[ModelCount]

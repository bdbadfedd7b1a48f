"""Request and response models of the batches API (design §13).

Samples reuse the job models' rules (names, file names, parameters), so a batch accepts
exactly what `POST /jobs` accepts, sample by sample.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from chalicelib.core.schemas import QueryModel, RequestModel, ResponseModel
from chalicelib.jobs.schemas import (
    Filename,
    JobName,
    JobOut,
    JobParams,
    PageToken,
    Timestamp,
    UploadOut,
    check_mates,
)

MAX_SAMPLES = 500
#: 500 samples with 128-character names and file names fit; the job routes keep 64 KiB.
MAX_BATCH_BODY_BYTES = 320 * 1024
Call = Literal["R", "S", "?", ""]
#: The batch workbook's media type (design §21); `app.py` makes it one of the API's binary types.
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SampleIn(RequestModel):
    name: JobName = Field(description="The sample's name; it becomes its job's name and its matrix row")
    filename: Filename = Field(description="Name of the file you will upload for this sample (FASTA or FASTQ)")
    mate_filename: Filename | None = Field(
        None, description="Paired reads: the second mate's FASTQ file; the answer has its `mate_upload`"
    )

    @model_validator(mode="after")
    def _pair(self) -> SampleIn:
        check_mates(self.filename, self.mate_filename)
        return self


class CreateBatchRequest(RequestModel):
    batch_name: JobName
    params: JobParams | None = Field(None, description="Parameters of every sample's job")
    samples: list[SampleIn] = Field(min_length=1, max_length=MAX_SAMPLES)

    @field_validator("samples")
    @classmethod
    def _unique_names(cls, samples: list[SampleIn]) -> list[SampleIn]:
        """Names are rows of one table: two alike (ignoring case) could not be told apart."""
        seen: dict[str, int] = {}
        for index, sample in enumerate(samples):
            key = sample.name.casefold()
            if key in seen:
                raise ValueError(
                    f"sample names must be unique: samples {seen[key]} and {index} are both named {sample.name!r}"
                )
            seen[key] = index
        return samples


class BatchListQuery(QueryModel):
    limit: int = Field(20, ge=1, le=100)
    next_token: PageToken | None = None


class MatrixQuery(QueryModel):
    format: Literal["json", "tsv", "xlsx"] = Field(
        "json",
        description="json; tsv (opens in a spreadsheet); or xlsx, the batch workbook (send "
        f"`Accept: {XLSX_MEDIA_TYPE}`)",
    )


class BatchCounts(ResponseModel):
    Submitted: int
    Running: int
    Completed: int
    Error: int
    Archived: int
    Cancelled: int


class BatchTiming(ResponseModel):
    created_at: Timestamp
    started_at: Timestamp | None = Field(None, description="When the first sample started running")
    finished_at: Timestamp | None = Field(None, description="When the last sample finished (once all have)")
    elapsed_seconds: float | None = Field(None, description="From the first start to now, or to the finish")
    job_seconds_total: float = Field(description="Running time of the completed samples, summed")
    job_seconds_mean: float | None = None


class BatchOut(ResponseModel):
    batch_id: str = Field(json_schema_extra={"format": "uuid"})
    batch_name: str
    user_id: str
    created_at: Timestamp
    updated_at: Timestamp
    params: dict[str, object]
    source: Literal["api", "inbox"]
    folder: str | None = Field(None, description="inbox/{username}/{folder}/ of a batch formed by bucket drops")
    total: int = Field(description="Jobs in the batch now")
    counts: BatchCounts
    progress: float = Field(ge=0, le=100, description="Finished samples (any end status) per 100 samples")
    status: Literal["Submitted", "Running", "Finished", "Cancelled"]
    cancelled_at: Timestamp | None = None
    timing: BatchTiming


class CreatedJob(ResponseModel):
    job: JobOut
    upload: UploadOut
    mate_upload: UploadOut | None = None


class CreateBatchResponse(ResponseModel):
    batch: BatchOut
    jobs: list[CreatedJob] = Field(description="One per sample, in the order given")


class BatchListResponse(ResponseModel):
    batches: list[BatchOut]
    next_token: str | None = None


class MatrixRow(ResponseModel):
    sample: str
    job_id: str
    status: str
    calls: dict[str, Call] = Field(
        description="Per antibiotic: R resistant, S no resistance found, ? no resistance found but the sample "
        "failed QC, '' not known yet"
    )
    genes: list[str]
    mutations: list[str]
    error: str | None = None
    st: str = Field("", description="Sequence type of the first MLST scheme (e.g. ST258, ST258-1LV, NA); '' untyped")
    replicons: list[str] = Field(default_factory=list, description="Plasmid replicons found (PlasmidFinder names)")


class MatrixResponse(ResponseModel):
    batch_id: str
    batch_name: str
    antibiotics: list[str] = Field(description="Columns: every antibiotic of the finished samples' phenotype tables")
    rows: list[MatrixRow] = Field(description="One per sample, in submission order")

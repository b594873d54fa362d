"""Bodies of the jobs API."""

from datetime import datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator


class JobIn(BaseModel):
    """``{"source": "s3", "bucket", "key"}``, ``{"source": "local", "path"}`` (under the
    processor's INTAKE_JOBS_LOCAL_ROOT) or ``{"file_id"}`` (a stored file), with options."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["s3", "local"] | None = None
    bucket: str | None = Field(None, min_length=3, max_length=63)
    key: str | None = Field(None, min_length=1, max_length=1024)
    path: str | None = Field(None, min_length=1, max_length=4096)
    file_id: UUID | None = None
    step: int = Field(10, ge=1, le=10_000, description="Sum every step-th column...")
    offset: int = Field(10, ge=1, le=10_000, description="...from this one (1-based)")
    header: bool | None = Field(None, description="Whether the first row is a header;"
                                                  " unset: detected")
    delimiter: str = Field(",", min_length=1, max_length=1, pattern='^[^"\r\n]$',
                           description="One character, not a quote or a line break")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = {"s3": self.bucket is not None and self.key is not None,
                 "local": self.path is not None, "file": self.file_id is not None}
        wanted = "file" if self.source is None else self.source
        if not given[wanted] or sum(given.values()) != 1 or (
                self.source is None and (self.bucket or self.key or self.path)):
            raise ValueError('give {"source": "s3", "bucket", "key"}, {"source": "local",'
                             ' "path"} or {"file_id"}, and nothing of another')
        return self

    def options(self) -> dict[str, Any]:
        return {"step": self.step, "offset": self.offset, "header": self.header,
                "delimiter": self.delimiter}


class JobAccepted(BaseModel):
    id: UUID


class JobProgress(BaseModel):
    bytes_done: int
    bytes_total: int | None
    rows_done: int


class JobOut(BaseModel):
    id: UUID
    status: str
    source: dict[str, Any]
    file_id: UUID | None
    options: dict[str, Any]
    attempts: int
    progress: JobProgress
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rule: bool
    """Made by the file's server's ``job_pattern``, not asked for."""


class JobList(BaseModel):
    items: list[JobOut]
    in_progress: int

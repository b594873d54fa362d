"""Bodies of the files API."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from infra.file_states import Status


class ProgressOut(BaseModel):
    """A transfer in flight, sampled every ``INTAKE_PROGRESS_SECONDS`` by the process that
    moves its bytes."""

    model_config = ConfigDict(from_attributes=True)

    stage: Literal["download", "upload"]
    """``download``: from the partner into the spool; ``upload``: from the spool to the
    bucket (a large file's parts, streamed while it downloads or sent after)."""
    bytes_done: int
    """Including the bytes an earlier attempt left (a resumed copy, parts already stored)."""
    bytes_total: int
    bytes_per_second: float | None
    """Moved over the last five samples (about ten seconds at the default interval)."""
    eta_seconds: float | None
    """The bytes left at that rate; null while nothing moves."""
    started_at: datetime
    updated_at: datetime
    """The last sample: never older than three intervals, or the transfer is not shown."""


class FileOut(BaseModel):
    id: UUID
    server_id: int | None
    server_name: str | None
    source: str
    remote_path: str
    filename: str
    size: int
    remote_mtime: int
    status: Status
    sha256: str | None
    md5: str | None
    bucket: str | None
    object_key: str | None
    etag: str | None
    attempts: int
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    stored_at: datetime | None
    notified_at: datetime | None
    remote_action: Literal["delete", "move"] | None
    """What happens to the file on its server once stored (None: kept there)."""
    remote_action_state: Literal["pending", "done", "changed", "failed"] | None
    """pending (to do, or to try again), done, changed (left alone: not the version copied),
    failed (given up); the journal tells each try."""
    progress: ProgressOut | None = None
    """Its download or upload in flight; null when none is, and for transfers never sampled:
    a batch's small files, uploads in one request (below INTAKE_STREAM_UPLOAD_MIN_BYTES)."""


class FileEventOut(BaseModel):
    at: datetime
    event: str
    details: dict[str, Any]


class FileDetail(FileOut):
    events: list[FileEventOut]


class FilePage(BaseModel):
    items: list[FileOut]
    next_cursor: str | None


class RetryOut(BaseModel):
    id: UUID
    from_status: Status
    to_status: Status
    published: bool
    """False when the broker refused the message; the reconciler sends it later."""


class BulkRetryOut(BaseModel):
    server_id: int
    retried: int


class DownloadLink(BaseModel):
    url: str
    expires_at: datetime
    bucket: str
    object_key: str

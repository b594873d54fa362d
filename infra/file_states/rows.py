"""A ``files`` row as it travels between modules: typed, frozen, with its status an enum."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from infra.file_states.states import Status


@dataclass(frozen=True, slots=True)
class FileRow:
    """Every column of ``files`` (0001_initial.sql), built by :data:`file_row`."""

    id: UUID
    server_id: int | None  # None: an admin upload
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
    lease_until: datetime | None
    error_message: str | None
    stored_at: datetime | None
    notified_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))  # the column is text


file_row = class_row(FileRow)

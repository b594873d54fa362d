"""A ``files`` row as it travels between modules: typed, frozen, with its status an enum."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row, kwargs_row

from infra.file_states.states import Status
from infra.server_access import ServerAccess


@dataclass(frozen=True, slots=True)
class FileRow:
    """Every column of ``files`` (``infra/migrations``), built by :data:`file_row`."""

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
    spool_id: str | None  # the spool its download was written to
    spool_losses: int
    # Its action on the partner once stored (remote_actions.py); None: keep the file there.
    remote_action: str | None = None
    remote_action_state: str | None = None
    remote_action_due_at: datetime | None = None
    remote_action_attempts: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))  # the column is text


file_row = class_row(FileRow)


@dataclass(frozen=True, slots=True)
class FileWithServer(FileRow):
    """A file's row as the transitions return it: with its server, so no stage looks it up
    on its own. Built by :data:`file_with_server` from the row and ``to_jsonb`` of its server."""

    server: ServerAccess | None = None  # None: an admin upload

    @property
    def server_name(self) -> str | None:
        return None if self.server is None else self.server.name


def _with_server(*, server: dict[str, Any] | None, **columns: Any) -> FileWithServer:
    return FileWithServer(**columns,
                          server=None if server is None else ServerAccess.from_row(server))


file_with_server = kwargs_row(_with_server)

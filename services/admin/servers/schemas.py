"""Bodies of the servers API: what a client sends to add or change a server, and gets back.

Passwords and private keys are write-only: they arrive as ``SecretStr`` (never printed),
are encrypted into ``*_enc`` columns, and come back only as ``has_password`` flags.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from infra.crypto import SecretBox
from services.admin.servers.fields import (
    WRITE_ONLY,
    ArchiveDir,
    Host,
    HostKey,
    JobPattern,
    MaxConnections,
    MinFileAge,
    Name,
    Password,
    Pattern,
    PollInterval,
    Port,
    PostFetch,
    PrivateKey,
    RemoteDir,
    Username,
)
from services.admin.servers.probing import Probe
from services.admin.servers.queries import server_columns

_NULLABLE = frozenset({"password", "private_key", "host_key", "job_pattern", "archive_dir"})
_JOB_PATTERN = ("A job (default options) on each file of this server once stored, when its"
                " name matches: * any characters, ? one, case-sensitive; null: no rule")


# A setting a new server's body leaves out takes the ``servers`` table's column default
# (infra/migrations/0001_initial.sql, the one place those defaults are written): the model
# never reads this placeholder, since only the fields the client sent become columns.
_COLUMN_DEFAULT: Any = None


class _ServerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def to_columns(self, box: SecretBox) -> dict[str, Any]:
        """The columns of the fields the client sent, secrets encrypted."""
        return server_columns({name: getattr(self, name) for name in self.model_fields_set},
                              box)


class ServerCreate(_ServerBody):
    """A new server; a setting left out takes the database's column default."""

    name: Name
    host: Host
    port: Port = _COLUMN_DEFAULT
    username: Username
    password: Password | None = Field(None, json_schema_extra=WRITE_ONLY)
    private_key: PrivateKey | None = Field(None, json_schema_extra=WRITE_ONLY)
    remote_dir: RemoteDir = _COLUMN_DEFAULT
    pattern: Pattern = _COLUMN_DEFAULT
    recursive: bool = _COLUMN_DEFAULT
    poll_interval_s: PollInterval = _COLUMN_DEFAULT
    min_file_age_s: MinFileAge = _COLUMN_DEFAULT
    max_connections: MaxConnections = _COLUMN_DEFAULT
    enabled: bool = _COLUMN_DEFAULT
    host_key: HostKey | None = None
    trust_on_first_use: bool = _COLUMN_DEFAULT
    job_pattern: JobPattern = Field(None, description=_JOB_PATTERN)
    post_fetch: PostFetch = _COLUMN_DEFAULT
    archive_dir: ArchiveDir | None = None


class ServerUpdate(_ServerBody):
    """A partial update: only the fields present in the body change.

    ``null`` removes an optional value (password, private_key, host_key, job_pattern,
    archive_dir); the other fields cannot be null.
    """

    name: Name | None = None
    host: Host | None = None
    port: Port | None = None
    username: Username | None = None
    password: Password | None = Field(None, json_schema_extra=WRITE_ONLY)
    private_key: PrivateKey | None = Field(None, json_schema_extra=WRITE_ONLY)
    remote_dir: RemoteDir | None = None
    pattern: Pattern | None = None
    recursive: bool | None = None
    poll_interval_s: PollInterval | None = None
    min_file_age_s: MinFileAge | None = None
    max_connections: MaxConnections | None = None
    enabled: bool | None = None
    host_key: HostKey | None = None
    trust_on_first_use: bool | None = None
    job_pattern: JobPattern = Field(None, description=_JOB_PATTERN)
    post_fetch: PostFetch | None = None
    archive_dir: ArchiveDir | None = None

    # Runs only for fields present in the body, since defaults are not validated.
    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in _NULLABLE:
            raise ValueError("cannot be null")
        return value


class RefusedEntry(BaseModel):
    path: str
    """Escaped: non-ASCII and control characters as ``\\x..``/``\\u....``."""
    reason: str


class ScanWarnings(BaseModel):
    refused: int
    """How many entries; ``entries`` holds the first 20."""
    entries: list[RefusedEntry]


class ServerOut(BaseModel):
    id: int
    name: str
    host: str
    port: int
    username: str
    has_password: bool
    has_private_key: bool
    remote_dir: str
    pattern: str
    recursive: bool
    poll_interval_s: int
    min_file_age_s: int
    max_connections: int
    enabled: bool
    host_key: str | None
    trust_on_first_use: bool
    job_pattern: str | None = Field(description=_JOB_PATTERN)
    post_fetch: PostFetch
    archive_dir: str | None
    next_scan_at: datetime
    last_scan_at: datetime | None
    last_scan_error: str | None
    last_scan_warnings: ScanWarnings | None
    """What the last scan passed over because no row can hold it; None: nothing."""
    created_at: datetime
    updated_at: datetime


class ServerKept(BaseModel):
    """DELETE's answer when files still refer to the server: it was disabled instead."""

    server: ServerOut
    note: str


class RemoteEntryOut(BaseModel):
    path: str
    size: int
    mtime: int


class ProbeOut(BaseModel):
    """The answer of a connection test; ``error`` is the exact reason when ``ok`` is false."""

    ok: bool
    host_key: str | None
    host_key_pinned: bool
    entries: list[RemoteEntryOut]
    error: str | None
    seconds: float

    @classmethod
    def from_probe(cls, probe: Probe) -> "ProbeOut":
        return cls(
            ok=probe.ok, host_key=probe.host_key, host_key_pinned=probe.host_key_pinned,
            entries=[RemoteEntryOut(path=e.path, size=e.size, mtime=e.mtime)
                     for e in probe.entries],
            error=probe.error, seconds=round(probe.seconds, 3),
        )

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
    Host,
    HostKey,
    MaxConnections,
    MinFileAge,
    Name,
    Password,
    Pattern,
    PollInterval,
    Port,
    PrivateKey,
    RemoteDir,
    Username,
)
from services.admin.servers.probing import Probe
from services.admin.servers.queries import server_columns

_NULLABLE = frozenset({"password", "private_key", "host_key"})


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    host: Host
    port: Port = 22
    username: Username
    password: Password | None = Field(None, json_schema_extra=WRITE_ONLY)
    private_key: PrivateKey | None = Field(None, json_schema_extra=WRITE_ONLY)
    remote_dir: RemoteDir = "."
    pattern: Pattern = "*"
    recursive: bool = False
    poll_interval_s: PollInterval = 30
    min_file_age_s: MinFileAge = 10
    max_connections: MaxConnections = 4
    enabled: bool = True
    host_key: HostKey | None = None
    trust_on_first_use: bool = False

    def to_columns(self, box: SecretBox) -> dict[str, Any]:
        return server_columns({name: getattr(self, name) for name in type(self).model_fields},
                              box)


class ServerUpdate(BaseModel):
    """A partial update: only the fields present in the body change.

    ``null`` removes an optional value (password, private_key, host_key); the other
    fields cannot be null.
    """

    model_config = ConfigDict(extra="forbid")

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

    # Runs only for fields present in the body, since defaults are not validated.
    @field_validator("*")
    @classmethod
    def _not_null(cls, value: object, info: ValidationInfo) -> object:
        if value is None and info.field_name not in _NULLABLE:
            raise ValueError("cannot be null")
        return value

    def to_columns(self, box: SecretBox) -> dict[str, Any]:
        return server_columns({name: getattr(self, name) for name in self.model_fields_set},
                              box)


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
    next_scan_at: datetime
    last_scan_at: datetime | None
    last_scan_error: str | None
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

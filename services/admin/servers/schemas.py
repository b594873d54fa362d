"""Bodies of the servers API and the checks that catch a bad configuration before discovery.

Passwords and private keys are write-only: they arrive as ``SecretStr`` (never printed),
are encrypted into ``*_enc`` columns, and come back only as ``has_password`` flags.
"""

import base64
import binascii
import ipaddress
import re
import struct
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from infra.crypto import SecretBox
from services.admin.servers.probing import Probe

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
# What infra.sftp can load (paramiko's Ed25519Key, ECDSAKey and RSAKey, without passphrase).
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (RSA|EC|OPENSSH) PRIVATE KEY-----\s+(.+?)\s+-----END \1 PRIVATE KEY-----",
    re.DOTALL,
)
_OPENSSH_MAGIC = b"openssh-key-v1\x00"
# RFC 1123 labels, plus "_" which container and internal DNS names often carry.
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WEEK_S = 7 * 24 * 3600
_SECRET_COLUMNS = {"password": "password_enc", "private_key": "private_key_enc"}
_NULLABLE = frozenset({"password", "private_key", "host_key"})
# Documents in the OpenAPI schema that the secrets are accepted but never returned.
_WRITE_ONLY: dict[str, Any] = {"writeOnly": True}


def _check_host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise ValueError("must be a hostname or an IP address, without spaces") from None
    return value


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _check_pattern(value: str) -> str:
    if "/" in value:
        raise ValueError("is matched against file names, so it cannot contain '/'")
    return _printable(value)


def _ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    """Read one length-prefixed string of the SSH wire format (RFC 4251 section 5)."""
    (length,) = struct.unpack_from(">I", blob, offset)
    start = offset + 4
    if start + length > len(blob):
        raise ValueError("truncated")
    return blob[start : start + length], start + length


def _normalise_host_key(value: str) -> str:
    """Keep ``<keytype> <base64>`` and drop the comment, the form infra.sftp compares."""
    parts = value.split()
    if len(parts) < 2 or parts[0] not in HOST_KEY_TYPES:
        raise ValueError(
            "must be '<keytype> <base64> [comment]' with keytype one of "
            + ", ".join(HOST_KEY_TYPES)
        )
    keytype, data = parts[0], parts[1]
    try:
        blob = base64.b64decode(data, validate=True)
        embedded, _ = _ssh_string(blob, 0)
    except (binascii.Error, ValueError, struct.error):
        raise ValueError("key data is not a base64 SSH public key") from None
    if embedded != keytype.encode():
        raise ValueError(f"key data is a {embedded.decode(errors='replace')!r} key, not {keytype}")
    return f"{keytype} {data}"


def _check_password(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise ValueError("must not be empty; send null to remove the password")
    return value


def _check_private_key(value: SecretStr) -> SecretStr:
    text = value.get_secret_value().strip()
    match = _PRIVATE_KEY.fullmatch(text)
    if match is None:
        raise ValueError(
            "must be an OpenSSH or PEM (RSA or EC) private key, "
            "from '-----BEGIN ... PRIVATE KEY-----' to its END line"
        )
    kind, body = match.groups()
    if "ENCRYPTED" in body:
        raise ValueError("passphrase-protected keys are not supported")
    if kind == "OPENSSH":
        try:
            blob = base64.b64decode("".join(body.split()), validate=True)
            cipher, _ = _ssh_string(blob, len(_OPENSSH_MAGIC))
        except (binascii.Error, ValueError, struct.error):
            raise ValueError("is not a readable OpenSSH private key") from None
        if not blob.startswith(_OPENSSH_MAGIC):
            raise ValueError("is not a readable OpenSSH private key")
        if cipher != b"none":
            raise ValueError("passphrase-protected keys are not supported")
    return SecretStr(text + "\n")


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# What the OpenAPI document says of these strings (the validators above decide).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_SCHEMA: dict[str, Any] = {
    "anyOf": [{"pattern": rf"^{_LABEL}(?:\.{_LABEL})*\.?$"}, {"format": "ipv6"}],
    "description": "A hostname or an IPv4/IPv6 address",
}
_PRINTABLE_SCHEMA: dict[str, Any] = {"pattern": r"^[^\x00-\x1f\x7f]+$"}
_PATTERN_SCHEMA: dict[str, Any] = {"pattern": r"^[^/\x00-\x1f\x7f]+$"}

Host = Annotated[
    str, StringConstraints(min_length=1, max_length=253), AfterValidator(_check_host),
    Field(json_schema_extra=_HOST_SCHEMA),
]
Port = Annotated[int, Field(ge=1, le=65535)]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_printable),
    Field(json_schema_extra=_PRINTABLE_SCHEMA),
]
Password = Annotated[
    SecretStr,
    Field(max_length=1024),
    AfterValidator(_check_password),
]
PrivateKey = Annotated[
    SecretStr,
    Field(max_length=16384),
    AfterValidator(_check_private_key),
]
RemoteDir = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_printable),
    Field(json_schema_extra=_PRINTABLE_SCHEMA),
]
Pattern = Annotated[
    str, StringConstraints(min_length=1, max_length=255), AfterValidator(_check_pattern),
    Field(json_schema_extra=_PATTERN_SCHEMA),
]
PollInterval = Annotated[int, Field(ge=1, le=_WEEK_S)]
MinFileAge = Annotated[int, Field(ge=0, le=_WEEK_S)]
MaxConnections = Annotated[int, Field(ge=1, le=64)]
HostKey = Annotated[str, StringConstraints(max_length=16384), AfterValidator(_normalise_host_key)]


def _columns(model: BaseModel, fields: Iterable[str], box: SecretBox) -> dict[str, Any]:
    """Map the given fields to database columns, encrypting the secrets."""
    columns: dict[str, Any] = {}
    for field in sorted(fields):
        value = getattr(model, field)
        if field in _SECRET_COLUMNS:
            encrypted = None if value is None else box.encrypt(value.get_secret_value())
            columns[_SECRET_COLUMNS[field]] = encrypted
        else:
            columns[field] = value
    return columns


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    host: Host
    port: Port = 22
    username: Username
    password: Password | None = Field(None, json_schema_extra=_WRITE_ONLY)
    private_key: PrivateKey | None = Field(None, json_schema_extra=_WRITE_ONLY)
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
        return _columns(self, type(self).model_fields, box)


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
    password: Password | None = Field(None, json_schema_extra=_WRITE_ONLY)
    private_key: PrivateKey | None = Field(None, json_schema_extra=_WRITE_ONLY)
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
        return _columns(self, self.model_fields_set, box)


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

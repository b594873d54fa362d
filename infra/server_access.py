"""The connection columns of a ``servers`` row, typed. Apart from ``infra.servers`` so that a
file's row can carry its server without the SFTP and crypto imports that turn it into a
connection (the uploader and the notifier never connect)."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self


@dataclass(frozen=True, slots=True)
class ServerAccess:
    """What it takes to reach a partner server: the connection columns of its row."""

    id: int
    name: str
    host: str
    port: int
    username: str
    password_enc: str | None
    private_key_enc: str | None
    host_key: str | None
    trust_on_first_use: bool
    max_connections: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        """From a ``servers`` row, or its ``to_jsonb``; the other columns are left out, and
        credentials a row was given without are None."""
        return cls(**{field.name: row.get(field.name) for field in fields(cls)})

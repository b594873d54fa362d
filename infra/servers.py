"""Partner server rows turned into SFTP targets (credentials decrypted only here)."""

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

from infra.crypto import SecretBox
from infra.postgres import Pool
from infra.sftp.session import SftpTarget


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
        """From a ``servers`` row, or its ``to_jsonb``; the other columns are left out."""
        return cls(**{field.name: row[field.name] for field in fields(cls)})


def target_from_row(server: ServerAccess, box: SecretBox) -> SftpTarget:
    return SftpTarget(
        host=server.host,
        port=server.port,
        username=server.username,
        password=box.decrypt(server.password_enc) if server.password_enc else None,
        private_key=box.decrypt(server.private_key_enc) if server.private_key_enc else None,
        host_key=server.host_key,
        trust_on_first_use=server.trust_on_first_use,
    )


async def fetch_server(pool: Pool, server_id: int) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM servers WHERE id = %s", (server_id,))
        return await cur.fetchone()


async def remember_host_key(pool: Pool, server_id: int, host_key: str) -> None:
    """Trust on first use: pin the key seen on the first successful connection."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE servers SET host_key = %s, updated_at = now()"
            " WHERE id = %s AND host_key IS NULL",
            (host_key, server_id),
        )

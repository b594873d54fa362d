"""Partner server rows turned into SFTP targets (credentials decrypted only here)."""

from typing import Any

from infra.crypto import SecretBox
from infra.postgres import Pool
from infra.server_access import ServerAccess
from infra.sftp.session import SftpTarget


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

"""``python -m services rotate-secrets``: every stored partner credential encrypted again
with the first key of ``INTAKE_SECRET_KEY``, in one transaction, so that the older keys
can then be removed from the setting."""

from infra.crypto import SecretBox, SecretBoxError
from infra.postgres import Pool

_STORED = """
SELECT id, name, password_enc, private_key_enc FROM servers
 WHERE password_enc IS NOT NULL OR private_key_enc IS NOT NULL
 ORDER BY id FOR UPDATE
"""

_STORE = "UPDATE servers SET password_enc = %s, private_key_enc = %s WHERE id = %s"


async def rotate_secrets(pool: Pool, box: SecretBox) -> int:
    """Re-encrypt every server's credentials; returns how many servers. A secret no key
    decrypts raises SecretBoxError naming its server, and nothing is changed."""
    async with pool.connection() as conn, conn.transaction():
        rows = await (await conn.execute(_STORED)).fetchall()
        for row in rows:
            try:
                again = [None if row[column] is None else box.rotate(row[column])
                         for column in ("password_enc", "private_key_enc")]
            except SecretBoxError as exc:
                raise SecretBoxError(f"server {row['name']} (id {row['id']}): {exc}") from exc
            await conn.execute(_STORE, (*again, row["id"]))
    return len(rows)

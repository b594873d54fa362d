"""SQL that records a file an operator uploaded: its row, already ``downloaded``, and the
``uploaded`` journal entry, in one transaction."""

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from infra.postgres import Pool
from services.admin.rows import Row, fetch_one

_INSERT = """
INSERT INTO files (id, server_id, source, remote_path, filename, size, remote_mtime, status,
                   sha256, md5)
VALUES (%(id)s, NULL, 'upload', %(remote_path)s, %(filename)s, %(size)s, 0, 'downloaded',
        %(sha256)s, %(md5)s)
RETURNING id, status, size, sha256, md5
"""
_EVENT = "INSERT INTO file_events (file_id, event, details) VALUES (%s, 'uploaded', %s)"


async def record_upload(
    pool: Pool, *, file_id: UUID, remote_path: str, filename: str, size: int, sha256: str,
    md5: str, details: dict[str, Any],
) -> Row:
    async with pool.connection() as conn, conn.transaction():
        row = await fetch_one(await conn.execute(_INSERT, {
            "id": file_id, "remote_path": remote_path, "filename": filename, "size": size,
            "sha256": sha256, "md5": md5,
        }))
        await conn.execute(_EVENT, (file_id, Jsonb(details)))
    assert row is not None  # INSERT ... RETURNING always yields the row
    return row

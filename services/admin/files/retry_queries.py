"""SQL that finds the files an operator may retry; the moves themselves are
:mod:`infra.file_states.restarts`."""

from uuid import UUID

from infra.file_states import RETRYABLE, FileRow, file_row
from infra.postgres import Pool

_CANDIDATE = "SELECT * FROM files WHERE id = %s"

_FAILED_OF_SERVER = """
SELECT * FROM files
 WHERE server_id = %(server_id)s AND status = ANY(%(retryable)s) AND id > %(after)s
 ORDER BY id LIMIT %(limit)s
"""


async def candidate(pool: Pool, file_id: UUID) -> FileRow | None:
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(_CANDIDATE, (file_id,))
        return await cur.fetchone()


async def failed_of_server(pool: Pool, server_id: int, *, after: UUID,
                           limit: int) -> list[FileRow]:
    """The next batch of one server's failed and missing files, in id order."""
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(
            _FAILED_OF_SERVER,
            {"server_id": server_id, "retryable": sorted(RETRYABLE), "after": after,
             "limit": limit},
        )
        return await cur.fetchall()

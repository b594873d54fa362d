"""SQL for an operator's retry of failed or missing files.

Each move is a compare-and-set on the status the caller saw, done together with its
``retried`` journal row in one statement (a data-modifying CTE), so a file that changed
meanwhile, or a second click, moves nothing.
"""

from dataclasses import dataclass
from uuid import UUID

from psycopg.types.json import Jsonb

from infra.postgres import Pool
from services.admin.rows import Row

RETRYABLE = ("failed", "missing")
_CANDIDATE = """
SELECT id, status, server_id, remote_path, size, sha256, md5, bucket, object_key, stored_at
  FROM files WHERE id = %s
"""

_FAILED_OF_SERVER = """
SELECT id, status, server_id, remote_path, size, sha256, md5, bucket, object_key, stored_at
  FROM files
 WHERE server_id = %(server_id)s AND status = ANY(%(retryable)s) AND id > %(after)s
 ORDER BY id LIMIT %(limit)s
"""

_MOVE = """
WITH moves AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(froms)s::text[], %(tos)s::text[])
        AS m(id, from_status, to_status)
), moved AS (
    UPDATE files f
       SET status = m.to_status, attempts = 0, error_message = NULL, lease_until = NULL,
           updated_at = now()
      FROM moves m
     WHERE f.id = m.id AND f.status = m.from_status
    RETURNING f.id, m.from_status, m.to_status, f.server_id, f.remote_path, f.size, f.sha256,
              f.md5, f.bucket, f.object_key
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT moved.id, 'retried',
           jsonb_build_object('from_status', moved.from_status, 'to_status', moved.to_status)
           || %(extra)s::jsonb
      FROM moved
)
SELECT * FROM moved
"""


@dataclass(frozen=True)
class Move:
    file_id: UUID
    from_status: str
    to_status: str


async def candidate(pool: Pool, file_id: UUID) -> Row | None:
    async with pool.connection() as conn:
        cur = await conn.execute(_CANDIDATE, (file_id,))
        return await cur.fetchone()


async def failed_of_server(pool: Pool, server_id: int, *, after: UUID, limit: int) -> list[Row]:
    """The next batch of one server's failed and missing files, in id order."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            _FAILED_OF_SERVER,
            {"server_id": server_id, "retryable": list(RETRYABLE), "after": after,
             "limit": limit},
        )
        return await cur.fetchall()


async def move(pool: Pool, moves: list[Move], *, by: str) -> list[Row]:
    """Apply the moves whose file is still where the caller saw it; returns those rows."""
    if not moves:
        return []
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _MOVE,
            {
                "ids": [m.file_id for m in moves],
                "froms": [m.from_status for m in moves],
                "tos": [m.to_status for m in moves],
                "extra": Jsonb({"by": by}),
            },
        )
        return await cur.fetchall()

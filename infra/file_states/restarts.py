"""An operator's retry: failed or missing files moved back to a state a stage picks up.

Each move is a compare-and-set on the status the caller saw, done together with its
``retried`` journal row in one statement (a data-modifying CTE), so a file that changed
meanwhile, or a second click, moves nothing. The moved files' messages go to the outbox
in the same transaction.
"""

from dataclasses import dataclass
from uuid import UUID

from psycopg.types.json import Jsonb

from infra import outbox
from infra.file_states.redriving import outgoing_for
from infra.file_states.rows import FileRow, file_row
from infra.file_states.states import Status, check
from infra.postgres import Pool

_RESTART = """
WITH moves AS (
    SELECT * FROM unnest(%(ids)s::uuid[], %(froms)s::text[], %(tos)s::text[])
        AS m(id, from_status, to_status)
), moved AS (
    UPDATE files f
       SET status = m.to_status, attempts = 0, spool_losses = 0, error_message = NULL,
           lease_until = NULL,
           updated_at = now()
      FROM moves m
     WHERE f.id = m.id AND f.status = m.from_status
    RETURNING f.*
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT moved.id, %(event)s,
           jsonb_build_object('from_status', m.from_status, 'to_status', moved.status)
           || %(extra)s::jsonb
      FROM moved JOIN moves m ON m.id = moved.id
)
SELECT * FROM moved
"""


@dataclass(frozen=True)
class Restart:
    file_id: UUID
    from_status: Status
    to_status: Status


async def restart(pool: Pool, moves: list[Restart], *, by: str) -> list[FileRow]:
    """Apply the moves whose file is still where the caller saw it; returns those files'
    rows, in their new status, each with its ``outgoing_for(row)`` in the outbox for the
    caller to send."""
    for move in moves:
        check(move.from_status, move.to_status, "retried")
    if not moves:
        return []
    async with (pool.connection() as conn, conn.transaction(),
                conn.cursor(row_factory=file_row) as cur):
        await cur.execute(_RESTART, {
            "ids": [m.file_id for m in moves],
            "froms": [m.from_status for m in moves],
            "tos": [m.to_status for m in moves],
            "event": "retried",
            "extra": Jsonb({"by": by}),
        })
        moved = await cur.fetchall()
        await outbox.queue(conn, [outgoing_for(row) for row in moved])
    return moved

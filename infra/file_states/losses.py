"""Copies lost with their spool: a dead host, a wiped disk, a queue that expired.

The file goes back to ``discovered``, for any host to download again, journaled as
``spool_lost`` and with its ``FileDiscovered`` in the outbox; it is failed instead when it
has no server to download from (an upload) or when this is the ``max_losses``-th copy it
lost in a row. ``spool_losses`` counts them and only storing the file resets it, so no
file circles between hosts for ever.
"""

import logging
from uuid import UUID

from infra import outbox
from infra.file_states.redriving import outgoing_for
from infra.file_states.rows import FileRow, file_row
from infra.file_states.states import SPOOL_HELD, Status, check, sql_list
from infra.postgres import Pool
from infra.spool.registry import LIVE_SPOOLS

log = logging.getLogger("intake.files")

# {lost}: the files to change, with the spool and status they had (id, spool_id, status).
_LOSE = """
WITH lost AS ({lost}),
changed AS (
    UPDATE files f
       SET status = CASE WHEN f.server_id IS NULL OR f.spool_losses + 1 >= %(max_losses)s
                         THEN %(failed)s ELSE %(back_to)s END,
           error_message = CASE
               WHEN f.server_id IS NULL THEN %(reason)s || '; an upload must be sent again'
               WHEN f.spool_losses + 1 >= %(max_losses)s
               THEN format('lost its copy %%s times in a row, last: %%s',
                           f.spool_losses + 1, %(reason)s)
               ELSE %(reason)s END,
           spool_losses = f.spool_losses + 1, spool_id = NULL, attempts = 0,
           lease_until = NULL, updated_at = now()
      FROM lost
     WHERE f.id = lost.id
    RETURNING f.*
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT c.id, 'spool_lost', jsonb_build_object(
               'spool', l.spool_id, 'from_status', l.status, 'status', c.status,
               'losses', c.spool_losses, 'reason', %(reason)s::text)
      FROM changed c JOIN lost l ON l.id = c.id
)
SELECT * FROM changed
"""

_ONE = """
SELECT id, spool_id, status FROM files
 WHERE id = %(id)s AND status = ANY(%(expect)s) AND spool_id IS NOT DISTINCT FROM %(spool)s
   FOR UPDATE"""

# Unfinished files whose spool stopped beating (infra.spool.registry); a copy still
# claimed (a live lease) is left to its worker. The statuses are constants so that
# files_unfinished serves it.
_ON_DEAD_SPOOLS = f"""
SELECT f.id, f.spool_id, f.status FROM files f
 WHERE f.status IN ({sql_list(SPOOL_HELD)})
   AND (f.lease_until IS NULL OR f.lease_until < now())
   AND (f.spool_id IS NULL OR f.spool_id NOT IN ({LIVE_SPOOLS}))
 ORDER BY f.updated_at
 LIMIT %(limit)s
   FOR UPDATE OF f SKIP LOCKED"""  # noqa: S608 (constants of the Status enum)

# The reconciler's statement, a name of its own for the bench (bench/scenarios/db_scale.py).
LOSE_ON_DEAD_SPOOLS = _LOSE.format(lost=_ON_DEAD_SPOOLS)

for _source in SPOOL_HELD:
    check(_source, Status.DISCOVERED, "spool_lost")
    check(_source, Status.FAILED, "spool_lost")


async def _lose(pool: Pool, statement: str, params: dict[str, object], *, reason: str,
                max_losses: int) -> list[FileRow]:
    """The files' messages are known only from their new rows: a second statement, in the
    same transaction. Rare enough that the round trip does not matter."""
    async with (pool.connection() as conn, conn.transaction(),
                conn.cursor(row_factory=file_row) as cur):
        await cur.execute(statement, {
            **params, "reason": reason, "max_losses": max_losses,
            "failed": Status.FAILED, "back_to": Status.DISCOVERED})
        rows = await cur.fetchall()
        await outbox.queue(conn, [outgoing_for(row) for row in rows
                                  if row.status is Status.DISCOVERED])
    for row in rows:
        log.warning("spool_lost: %s", row.error_message,
                    extra={"file_id": str(row.id), "event": "spool_lost", "status": row.status})
    return rows


async def lose_copy(pool: Pool, file_id: UUID, *, expect: tuple[Status, ...],
                    spool: str | None, reason: str, max_losses: int) -> FileRow | None:
    """The copy of one file, in ``spool`` and in one of the ``expect`` states, is gone;
    None when the file is elsewhere by now. A file back to ``discovered`` has its message,
    ``outgoing_for(row)``, in the outbox: the caller sends it."""
    rows = await _lose(pool, _LOSE.format(lost=_ONE),
                       {"id": file_id, "expect": list(expect), "spool": spool},
                       reason=reason, max_losses=max_losses)
    return rows[0] if rows else None


async def lose_copies_of_dead_spools(pool: Pool, *, lost_after: int, max_losses: int,
                                     limit: int) -> list[FileRow]:
    """Every unclaimed file whose copy is in a spool that stopped showing life (at most
    ``limit`` of them per call)."""
    return await _lose(pool, LOSE_ON_DEAD_SPOOLS, {"lost_after": lost_after, "limit": limit},
                       reason=f"its spool showed no life for {lost_after}s",
                       max_losses=max_losses)

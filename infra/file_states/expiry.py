"""A failed file's spool copy that waited too long for an operator: the row forgets it.

The copy of a failed file stays in its spool so that a retry can upload it without a new
download; past ``INTAKE_SPOOL_FAILED_KEEP_DAYS`` the row stops naming the spool (journaled
as ``spool_expired``) and its janitor then removes the copy like any other no file needs
(``infra.spool.keep``). A retry afterwards finds no copy to restart from and sends the file
back to be downloaded from its server (``services/admin/files/retrying.py``). Only a file
that is ``failed`` and has not changed for the whole age qualifies: a retried file is no
longer failed, and a file failed again has a new ``updated_at``.
"""

import logging
from collections.abc import Collection
from uuid import UUID

from infra.file_states.rows import FileRow, file_row
from infra.file_states.states import Status, check
from infra.postgres import Pool

log = logging.getLogger("intake.files")

# FOR UPDATE: a retry of one of these files that runs meanwhile waits, then finds it
# failed still (its compare-and-set on the status holds) and restarts it without a copy.
_EXPIRE = """
WITH due AS (
    SELECT id, spool_id, updated_at FROM files
     WHERE id = ANY(%(ids)s::uuid[]) AND status = %(failed)s AND spool_id = %(spool)s
       AND updated_at < now() - make_interval(days => %(days)s)
       FOR UPDATE
), changed AS (
    UPDATE files f SET spool_id = NULL, updated_at = now()
      FROM due WHERE f.id = due.id
    RETURNING f.*
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT due.id, 'spool_expired', jsonb_build_object(
               'spool', due.spool_id, 'failed_since', due.updated_at,
               'kept_days', %(days)s::integer)
      FROM due
)
SELECT * FROM changed
"""

check(Status.FAILED, Status.FAILED, "spool_expired")


async def expire_copies(pool: Pool, file_ids: Collection[UUID], *, spool: str,
                        keep_days: int) -> list[FileRow]:
    """Of ``file_ids`` (copies found in ``spool``), the files failed for ``keep_days`` days
    or more whose row still names ``spool``: their rows no longer do, each journaled."""
    if not file_ids or keep_days <= 0:
        return []
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(_EXPIRE, {"ids": list(file_ids), "failed": Status.FAILED,
                                    "spool": spool, "days": keep_days})
        rows = await cur.fetchall()
    for row in rows:
        log.info("spool_expired: copy in %s kept %s days", spool, keep_days,
                 extra={"file_id": str(row.id), "event": "spool_expired",
                        "status": row.status})
    return rows

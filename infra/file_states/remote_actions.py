"""A stored file's action on its partner (delete, or move into an archive), kept on its row.

The action is orthogonal to the status: it is due once the file is ``stored`` or
``notified`` (``ACTIONABLE``: its copy is safe in the bucket) and never moves the status.
Each outcome is one compare-and-set statement on ``remote_action_state = 'pending'`` with
its journal row: ``remote_deleted`` or ``remote_moved`` (done), ``remote_changed`` (the
partner's file differs from the one copied: left alone), ``remote_action_failed`` (due
again after an exponential backoff, or given up after the last attempt), and
``remote_action_retried`` (an operator made an action given up due again).
"""

import logging
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from infra.file_states.states import ACTIONABLE, REMOTE_ACTION_EVENTS, sql_list
from infra.postgres import Pool

log = logging.getLogger("intake.files")


class DueAction(NamedTuple):
    id: UUID
    remote_path: str
    size: int
    remote_mtime: int
    remote_action: str  # 'delete' or 'move'
    stored_at: datetime
    remote_action_attempts: int  # the tries before this one


# The claim moves the due time past the work (a lease), so that no other scan of the
# server takes the same files meanwhile; a claimed file whose outcome is never recorded
# (the process died) is simply due again then. The statuses are written into the text
# (see sql_list), so that files_remote_action_due serves it.
_CLAIM_DUE = f"""
UPDATE files SET remote_action_due_at = now() + make_interval(secs => %(lease)s)
 WHERE id IN (
        SELECT id FROM files
         WHERE server_id = %(server_id)s AND remote_action_state = 'pending'
           AND status IN ({sql_list(ACTIONABLE)}) AND remote_action_due_at <= now()
         ORDER BY remote_action_due_at
         LIMIT %(limit)s
           FOR UPDATE SKIP LOCKED)
RETURNING id, remote_path, size, remote_mtime, remote_action, stored_at,
          remote_action_attempts
"""  # noqa: S608 (constants of the Status enum)

# attempts: this try counted. A failure is due again after retry * 2^(attempts - 1)
# seconds, at most retry_max, until the attempts are used up.
_RECORD = """
WITH changed AS (
    UPDATE files
       SET remote_action_attempts = remote_action_attempts + 1,
           remote_action_state = CASE
               WHEN %(state)s <> 'failed' THEN %(state)s
               WHEN remote_action_attempts + 1 >= %(max_attempts)s THEN 'failed'
               ELSE 'pending' END,
           remote_action_due_at = CASE
               WHEN %(state)s = 'failed' AND remote_action_attempts + 1 < %(max_attempts)s
               THEN now() + make_interval(secs => least(
                   %(retry)s * power(2, remote_action_attempts), %(retry_max)s))
               END
     WHERE id = %(id)s AND remote_action_state = 'pending'
    RETURNING id, remote_action_state, remote_action_attempts, remote_action_due_at
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT id, %(event)s, %(details)s::jsonb || jsonb_build_object(
               'attempt', remote_action_attempts, 'retry_at', remote_action_due_at,
               'gave_up', remote_action_state = 'failed')
      FROM changed
)
SELECT * FROM changed
"""


# An operator's retry of an action given up: due now, its attempts counted afresh.
_RETRY = """
WITH changed AS (
    UPDATE files
       SET remote_action_state = 'pending', remote_action_due_at = now(),
           remote_action_attempts = 0
     WHERE id = %(id)s AND remote_action_state = 'failed'
    RETURNING id
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT id, 'remote_action_retried', jsonb_build_object('by', %(by)s::text) FROM changed
)
SELECT id FROM changed
"""


class Backoff(NamedTuple):
    """How a failed action is tried again."""

    retry_seconds: float
    retry_max_seconds: float
    max_attempts: int


class Recorded(NamedTuple):
    state: str  # 'done', 'changed', 'pending' (to be tried again) or 'failed' (given up)
    attempts: int
    due_at: datetime | None


async def claim_due(pool: Pool, server_id: int, *, limit: int,
                    lease_seconds: float) -> list[DueAction]:
    """The server's files whose action is due, at most ``limit``, taken for one scan."""
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(DueAction)) as cur:
        await cur.execute(_CLAIM_DUE, {"server_id": server_id, "limit": limit,
                                       "lease": lease_seconds})
        return await cur.fetchall()


async def _record(pool: Pool, file_id: UUID, *, state: str, event: str,
                  details: dict[str, Any], backoff: Backoff | None = None) -> Recorded | None:
    if event not in REMOTE_ACTION_EVENTS:
        raise ValueError(f"not a post-fetch event: {event!r}")
    retry = backoff or Backoff(0, 0, 1)
    async with pool.connection() as conn:
        cur = await conn.execute(_RECORD, {
            "id": file_id, "state": state, "event": event, "details": Jsonb(details),
            "retry": retry.retry_seconds, "retry_max": retry.retry_max_seconds,
            "max_attempts": retry.max_attempts})
        row = await cur.fetchone()
    if row is None:  # not pending any more: someone else recorded it
        return None
    return Recorded(row["remote_action_state"], row["remote_action_attempts"],
                    row["remote_action_due_at"])


async def deleted(pool: Pool, file_id: UUID, *, path: str) -> Recorded | None:
    recorded = await _record(pool, file_id, state="done", event="remote_deleted",
                             details={"path": path})
    log.info("remote_deleted", extra={"file_id": str(file_id), "event": "remote_deleted",
                                      "path": path})
    return recorded


async def moved(pool: Pool, file_id: UUID, *, path: str, to: str) -> Recorded | None:
    recorded = await _record(pool, file_id, state="done", event="remote_moved",
                             details={"path": path, "to": to})
    log.info("remote_moved", extra={"file_id": str(file_id), "event": "remote_moved",
                                    "path": path, "to": to})
    return recorded


async def changed(pool: Pool, file_id: UUID, *, path: str, action: str,
                  seen: dict[str, Any]) -> Recorded | None:
    """The partner's file is not the version copied (or no longer a regular file): it is
    left alone for good, with a warning."""
    recorded = await _record(pool, file_id, state="changed", event="remote_changed",
                             details={"path": path, "action": action, "seen": seen})
    log.warning("%s changed on the partner since its copy: not %s", path,
                "deleted" if action == "delete" else "moved",
                extra={"file_id": str(file_id), "event": "remote_changed", "path": path})
    return recorded


async def failed(pool: Pool, file_id: UUID, *, path: str, action: str, error: str,
                 backoff: Backoff) -> Recorded | None:
    """A try that failed: due again after the backoff, or given up after the last one."""
    recorded = await _record(pool, file_id, state="failed", event="remote_action_failed",
                             details={"path": path, "action": action, "error": error},
                             backoff=backoff)
    log.warning("%s of %s failed: %s", action, path, error,
                extra={"file_id": str(file_id), "event": "remote_action_failed",
                       "path": path,
                       "gave_up": recorded is not None and recorded.state == "failed"})
    return recorded


async def retry(pool: Pool, file_id: UUID, *, by: str) -> bool:
    """Make a given-up action due again, with its attempts reset; False when the file's
    action is not given up (pending, done, changed, none) or there is no such file."""
    async with pool.connection() as conn:
        cur = await conn.execute(_RETRY, {"id": file_id, "by": by})
        retried = await cur.fetchone() is not None
    if retried:
        log.info("remote_action_retried", extra={"file_id": str(file_id),
                                                 "event": "remote_action_retried", "by": by})
    return retried

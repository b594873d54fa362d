"""Old notified files summarized away: their rows (and journals) removed, their number and
bytes added to ``file_totals``, one row per server and day of discovery, in the same
statement. The console's totals (``services/admin/dashboard/queries.py``) add them back.

A notified file has nothing left in flight: no lease, no outbox row, no multipart upload,
no spool copy a file needs. A job that read it keeps its result; its ``file_id`` becomes
NULL (``jobs_file`` makes finding those jobs an index lookup). Its row was also what told
discovery that this version of the partner's file was delivered: a ``delivered`` sighting
of the path takes over (the newest version of it; a sighting of the path already there
is a newer version discovery is watching, and stays), so a file the partner still lists
is not downloaded again (``services/discovery/queries.py``, ``OBSERVE_BATCH``). A file
whose post-fetch action on its partner is still due, or was given up (for an operator to
retry, ``remote_actions.py``), keeps its row.
"""

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from infra.file_states.states import Status

# The oldest notified files first (an index of files by creation time serves it), removed
# by their ids (one index lookup each, never a scan of files); FOR UPDATE SKIP LOCKED and
# the status checked again: a notified file never moves, but a row locked elsewhere waits.
_SUMMARIZE = f"""
WITH gone AS (
    DELETE FROM files f
     WHERE f.id = ANY(ARRAY(SELECT id FROM files
                             WHERE status = '{Status.NOTIFIED}'
                               AND created_at < now() - make_interval(days => %(days)s)
                               AND remote_action_state IS DISTINCT FROM 'pending'
                               AND remote_action_state IS DISTINCT FROM 'failed'
                             ORDER BY created_at, id
                             LIMIT %(limit)s
                               FOR UPDATE SKIP LOCKED))
       AND f.status = '{Status.NOTIFIED}'
    RETURNING f.server_id, f.remote_path, f.size, f.remote_mtime, f.created_at
), remembered AS (
    INSERT INTO sightings (server_id, remote_path, size, remote_mtime, first_seen_at,
                           last_seen_at, delivered)
    SELECT DISTINCT ON (server_id, remote_path)
           server_id, remote_path, size, remote_mtime, now(), now(), true
      FROM gone WHERE server_id IS NOT NULL
     ORDER BY server_id, remote_path, created_at DESC
    ON CONFLICT (server_id, remote_path) DO NOTHING
), added AS (
    INSERT INTO file_totals AS t (server_id, day, files, bytes)
    SELECT server_id, (created_at AT TIME ZONE 'UTC')::date, count(*), sum(size)
      FROM gone GROUP BY 1, 2
    ON CONFLICT ON CONSTRAINT file_totals_day
    DO UPDATE SET files = t.files + EXCLUDED.files, bytes = t.bytes + EXCLUDED.bytes
)
SELECT count(*) AS files FROM gone
"""  # noqa: S608 (constants of the Status enum)


async def summarize_batch(conn: AsyncConnection[DictRow], *, older_than_days: int,
                          limit: int) -> int:
    """Summarize at most ``limit`` notified files discovered ``older_than_days`` days ago or
    more; returns how many (fewer than ``limit``: nothing is left to do)."""
    cur = await conn.execute(_SUMMARIZE, {"days": older_than_days, "limit": limit})
    row = await cur.fetchone()
    assert row is not None
    return int(row["files"])

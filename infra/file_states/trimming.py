"""The journal of files long at rest, trimmed down to one ``journal_trimmed`` event each.

A file whose status has not changed for the age (finished: notified, failed or missing)
loses its events, all older than that; in their place one ``journal_trimmed`` event
tells how many of which kind went, and the time of the first and last: the timeline
still says what happened, not every step. A file that is not finished keeps everything.
A retried file that finishes again is trimmed again once it rests as long.

One batch is one statement (so one short transaction) over at most ``limit`` files, found
through ``files_journal_due`` (infra/migrations/0012_retention.sql), oldest first.
"""

from typing import NamedTuple

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from infra.file_states.states import FINISHED, sql_list

TRIMMED_EVENT = "journal_trimmed"

# The predicate of files_journal_due, word for word, so the planner uses it. FOR UPDATE
# SKIP LOCKED: a retry committing meanwhile waits for this statement (it then finds the
# file failed still and moves it on); a file being changed right now is left for later.
# journal_trimmed_at is no change of the file: updated_at stays when its rest began.
_TRIM = f"""
WITH due AS (
    SELECT id FROM files
     WHERE status IN ({sql_list(FINISHED)})
       AND (journal_trimmed_at IS NULL OR journal_trimmed_at < updated_at)
       AND updated_at < now() - make_interval(days => %(days)s)
     ORDER BY updated_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM file_events e USING due
     WHERE e.file_id = due.id AND e.event <> '{TRIMMED_EVENT}'
    RETURNING e.file_id, e.at, e.event
), kinds AS (
    SELECT file_id, event, count(*) AS n, min(at) AS first, max(at) AS last
      FROM gone GROUP BY file_id, event
), summed AS (
    SELECT file_id, sum(n)::bigint AS events, min(first) AS first, max(last) AS last,
           jsonb_object_agg(event, n) AS kinds
      FROM kinds GROUP BY file_id
), marked AS (
    UPDATE files f SET journal_trimmed_at = now() FROM due WHERE f.id = due.id
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT file_id, '{TRIMMED_EVENT}', jsonb_build_object(
               'events', events, 'kinds', kinds, 'first', first, 'last', last,
               'older_than_days', %(days)s::integer)
      FROM summed
)
SELECT (SELECT count(*) FROM due) AS files,
       (SELECT coalesce(sum(events), 0) FROM summed)::bigint AS events
"""  # noqa: S608 (constants of the Status enum and this module)


class Trimmed(NamedTuple):
    files: int  # files looked at: fewer than the limit means nothing is left to do
    events: int  # events removed


async def trim_batch(conn: AsyncConnection[DictRow], *, older_than_days: int,
                     limit: int) -> Trimmed:
    """Trim the journals of at most ``limit`` files at rest for ``older_than_days`` days."""
    cur = await conn.execute(_TRIM, {"days": older_than_days, "limit": limit})
    row = await cur.fetchone()
    assert row is not None
    return Trimmed(row["files"], row["events"])

"""The journal of files long at rest, trimmed down to one ``journal_trimmed`` event each.

A file whose status has not changed for the age (finished: notified, failed or missing)
loses its events, all older than that; in their place one ``journal_trimmed`` event
tells how many of which kind went, and the time of the first and last: the timeline
still says what happened, not every step. A file that is not finished keeps everything.

The files are walked in the order their rest began, ``(updated_at, id)`` through
``files_finished_since``, from the mark the last batch left in ``retention_marks``
(infra/migrations/0012_retention.sql). Every change of a file sets ``updated_at``, so a
file that was unfinished when the walk passed it, or retried and finished again since,
lies ahead of the mark and is met again once it has rested as long. One batch is one
statement (so one short transaction) over at most ``limit`` files.
"""

from typing import NamedTuple

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from infra.file_states.states import FINISHED, sql_list

TRIMMED_EVENT = "journal_trimmed"
MARK = "journal"

# The statuses are constants, as in files_finished_since's predicate, so the planner uses
# it; the mark, a value found before the scan, is where the scan starts; the events are
# looked up by file (file_events_file), never by reading the journal. FOR UPDATE: a retry
# committing meanwhile is waited for, and its file, no longer finished, left out (it lies
# ahead of the mark now); nothing else works on a finished file.
# A name of its own for the bench (bench/scenarios/db_scale.py).
TRIM_BATCH = f"""
WITH due AS (
    SELECT id, updated_at FROM files
     WHERE status IN ({sql_list(FINISHED)})
       AND (updated_at, id) > (SELECT updated_at, file_id FROM retention_marks
                                WHERE name = '{MARK}')
       AND updated_at < now() - make_interval(days => %(days)s)
     ORDER BY updated_at, id
     LIMIT %(limit)s
       FOR UPDATE
), gone AS (
    DELETE FROM file_events
     WHERE file_id = ANY(ARRAY(SELECT id FROM due)) AND event <> '{TRIMMED_EVENT}'
    RETURNING file_id, at, event
), kinds AS (
    SELECT file_id, event, count(*) AS n, min(at) AS first, max(at) AS last
      FROM gone GROUP BY file_id, event
), summed AS (
    SELECT file_id, sum(n)::bigint AS events, min(first) AS first, max(last) AS last,
           jsonb_object_agg(event, n) AS kinds
      FROM kinds GROUP BY file_id
), journal AS (
    INSERT INTO file_events (file_id, event, details)
    SELECT file_id, '{TRIMMED_EVENT}', jsonb_build_object(
               'events', events, 'kinds', kinds, 'first', first, 'last', last,
               'older_than_days', %(days)s::integer)
      FROM summed
), moved AS (
    UPDATE retention_marks m SET updated_at = last.updated_at, file_id = last.id
      FROM (SELECT updated_at, id FROM due ORDER BY updated_at DESC, id DESC LIMIT 1) last
     WHERE m.name = '{MARK}'
)
SELECT (SELECT count(*) FROM due) AS files,
       (SELECT coalesce(sum(events), 0) FROM summed)::bigint AS events
"""  # noqa: S608 (constants of the Status enum and this module)


class Trimmed(NamedTuple):
    files: int  # files passed: fewer than the limit means nothing is left to do
    events: int  # events removed


async def trim_batch(conn: AsyncConnection[DictRow], *, older_than_days: int,
                     limit: int) -> Trimmed:
    """Trim the journals of at most ``limit`` files at rest for ``older_than_days`` days."""
    cur = await conn.execute(TRIM_BATCH, {"days": older_than_days, "limit": limit})
    row = await cur.fetchone()
    assert row is not None
    return Trimmed(row["files"], row["events"])

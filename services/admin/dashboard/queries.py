"""SQL behind the dashboard: counts, what is moving, throughput, and what is stuck.

One grouped scan gives the counts per server and status (with the notified files that
retention summarized into ``file_totals``); everything else reads the
partial index of unfinished files (``files_unfinished``) or the recent end of the journal
(``file_events_recent``), so the dashboard stays cheap to poll as the tables grow.
"""

from datetime import datetime

from infra.file_states import FINISHED, SPOOL_HELD, Status, sql_list
from infra.postgres import Pool
from infra.spool.registry import LIVE_SPOOLS
from services.admin.rows import Row, fetch_one

WINDOW_MINUTES = 15

# Notified files summarized away by retention (infra/file_states/summaries.py) still count.
_COUNTS = f"""
SELECT server_id, status, sum(n)::bigint AS n FROM (
    SELECT server_id, status, count(*) AS n FROM files GROUP BY server_id, status
    UNION ALL
    SELECT server_id, '{Status.NOTIFIED}', sum(files) FROM file_totals GROUP BY server_id
) counted GROUP BY server_id, status
"""  # noqa: S608 (a constant of the Status enum)

# The statuses are written into the text (see sql_list): both read files_unfinished.
_IN_FLIGHT = f"""
SELECT count(*) AS n FROM files
 WHERE status NOT IN ({sql_list(FINISHED)})
   AND (status IN ({sql_list([Status.DOWNLOADING, Status.STORING])}) OR lease_until > now())
"""  # noqa: S608 (constants of the Status enum)

_OLDEST_UNFINISHED = f"""
SELECT id, status, filename, created_at, extract(epoch FROM now() - created_at) AS age_s
  FROM files WHERE status NOT IN ({sql_list(FINISHED)})
 ORDER BY created_at LIMIT 1
"""  # noqa: S608 (constants of the Status enum)

_STORED_PER_MINUTE = """
SELECT date_trunc('minute', at) AS minute, count(*) AS files,
       coalesce(sum((details->>'size')::bigint), 0) AS bytes
  FROM file_events
 WHERE at >= date_trunc('minute', now()) - make_interval(mins => %(back)s)
   AND event IN ('stored', 'uploaded')  -- an admin upload is stored as it arrives
 GROUP BY 1
"""

_SERVERS = "SELECT id, name, enabled, last_scan_at, last_scan_error FROM servers ORDER BY name"

_NOW = "SELECT date_trunc('minute', now()) AS minute"

# Each host's spool: alive by infra.spool.registry's one rule, and the copies it holds.
_SPOOLS = f"""
SELECT s.id, s.hostname, s.started_at, s.seen_at,
       s.id IN ({LIVE_SPOOLS}) AS alive,
       coalesce(h.n, 0) AS holding
  FROM spools s
  LEFT JOIN (SELECT spool_id, count(*) AS n FROM files
              WHERE status IN ({sql_list(SPOOL_HELD)}) GROUP BY spool_id) h
         ON h.spool_id = s.id
 ORDER BY s.seen_at DESC
 LIMIT %(limit)s
"""  # noqa: S608 (constants of the Status enum)
SPOOLS_SHOWN = 50


async def counts(pool: Pool) -> list[Row]:
    async with pool.connection() as conn:
        cur = await conn.execute(_COUNTS)
        return await cur.fetchall()


async def in_flight(pool: Pool) -> int:
    async with pool.connection() as conn:
        row = await fetch_one(await conn.execute(_IN_FLIGHT))
    return int(row["n"]) if row else 0


async def oldest_unfinished(pool: Pool) -> Row | None:
    async with pool.connection() as conn:
        return await fetch_one(await conn.execute(_OLDEST_UNFINISHED))


async def stored_per_minute(pool: Pool) -> tuple[datetime, list[Row]]:
    """The current minute (database clock) and the stored files/bytes of recent minutes."""
    async with pool.connection() as conn:
        now = await fetch_one(await conn.execute(_NOW))
        cur = await conn.execute(_STORED_PER_MINUTE, {"back": WINDOW_MINUTES - 1})
        rows = await cur.fetchall()
    assert now is not None
    return now["minute"], rows


async def servers(pool: Pool) -> list[Row]:
    async with pool.connection() as conn:
        cur = await conn.execute(_SERVERS)
        return await cur.fetchall()


async def spools(pool: Pool, *, lost_after: int) -> list[Row]:
    """The most recently seen spools, newest first."""
    async with pool.connection() as conn:
        cur = await conn.execute(_SPOOLS, {"lost_after": lost_after, "limit": SPOOLS_SHOWN})
        return await cur.fetchall()

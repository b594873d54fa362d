"""SQL behind the pipeline gauges: files by status, the oldest unfinished file of each
status, each partner's scan health, the spools whose queues exist."""

from infra.file_states import FINISHED, Status
from infra.postgres import Pool
from infra.spool.registry import LIVE_SPOOLS
from services.admin.rows import Row

UNFINISHED = [status for status in Status if status not in FINISHED]

# Reads the index files_status_newest; one count per scrape interval at most (the cache).
_BY_STATUS = "SELECT status, count(*) AS n FROM files GROUP BY status"

# One backward step of files_status_newest per status, however many files wait.
_OLDEST = """
SELECT s.status,
       extract(epoch FROM now() - (SELECT min(f.created_at) FROM files f
                                    WHERE f.status = s.status)) AS age_s
  FROM unnest(%(statuses)s::text[]) AS s(status)
"""

# Disabled servers are left out: nobody scans them, so their last failures are no news.
_SERVERS = """
SELECT name, scan_failures, extract(epoch FROM last_scan_ok_at) AS last_ok
  FROM servers WHERE enabled ORDER BY name
"""

_LIVE_SPOOLS = f"{LIVE_SPOOLS} ORDER BY id"


async def files_by_status(pool: Pool) -> list[Row]:
    async with pool.connection() as conn:
        return await (await conn.execute(_BY_STATUS)).fetchall()


async def oldest_unfinished(pool: Pool) -> list[Row]:
    """Each unfinished status with the age in seconds of its oldest file (since it was
    discovered or uploaded), None when no file is in it."""
    async with pool.connection() as conn:
        return await (await conn.execute(_OLDEST, {"statuses": UNFINISHED})).fetchall()


async def servers(pool: Pool) -> list[Row]:
    async with pool.connection() as conn:
        return await (await conn.execute(_SERVERS)).fetchall()


async def live_spools(pool: Pool, *, lost_after: int) -> list[str]:
    async with pool.connection() as conn:
        rows = await (await conn.execute(_LIVE_SPOOLS, {"lost_after": lost_after})).fetchall()
    return [row["id"] for row in rows]

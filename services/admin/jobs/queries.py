"""The jobs list, and how many are in progress (for the list and the dashboard)."""

from infra.jobs import JobRow, job_row
from infra.postgres import Pool

_LIST = """
SELECT * FROM jobs WHERE %(status)s::text IS NULL OR status = %(status)s
 ORDER BY created_at DESC, id DESC LIMIT %(limit)s"""
# Reads the partial index jobs_unfinished.
_IN_PROGRESS = "SELECT count(*) AS n FROM jobs WHERE status IN ('queued', 'running')"


async def list_jobs(pool: Pool, *, status: str | None, limit: int) -> list[JobRow]:
    """Newest first."""
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_LIST, {"status": status, "limit": limit})
        return await cur.fetchall()


async def in_progress(pool: Pool) -> int:
    """Jobs queued or running."""
    async with pool.connection() as conn:
        cur = await conn.execute(_IN_PROGRESS)
        row = await cur.fetchone()
    return row["n"] if row else 0

"""What one test leaves in the run's database for the next (a pytest-xdist worker's tests
share it): unfinished files, enabled servers, jobs. An in-process test fails its servers'
unfinished files at its end; a test that starts the services as processes first retires
whatever earlier tests left, so that no discovery, reconciler or processor takes it up."""

import psycopg

from infra.postgres import Pool

# The files of ``servers`` (all, when NULL) not yet at rest are failed.
_FAIL_UNFINISHED = """
UPDATE files SET status = 'failed', lease_until = NULL, error_message = %(why)s
 WHERE status NOT IN ('notified', 'failed', 'missing')
   AND (%(servers)s::int[] IS NULL OR server_id = ANY(%(servers)s))
"""


async def fail_unfinished(pool: Pool, server_ids: list[int], *, left_by: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(_FAIL_UNFINISHED, {"why": f"left by {left_by}",
                                              "servers": server_ids})


def retire_earlier_tests(database_url: str) -> None:
    """Disable the servers earlier tests registered, fail their unfinished files and jobs,
    and mark their jobs' results as logged (a processor logs a succeeded job once)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('jobs')").fetchone() == (None,):
            return  # not migrated yet: no test ran before
        conn.execute("UPDATE servers SET enabled = false WHERE enabled")
        conn.execute(_FAIL_UNFINISHED, {"why": "left by an earlier test", "servers": None})
        conn.execute("UPDATE jobs SET status = 'failed', lease_until = NULL,"
                     " error = 'left by an earlier test', finished_at = now()"
                     " WHERE status IN ('queued', 'running')")
        conn.execute("UPDATE jobs SET logged_at = now()"
                     " WHERE status = 'succeeded' AND logged_at IS NULL")

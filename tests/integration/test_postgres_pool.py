"""The services' connection pool: connections reused, checked only when in doubt."""

import psycopg
from psycopg_pool import AsyncConnectionPool

from infra import postgres


async def test_connections_are_reused_and_checked_only_when_in_doubt(settings, database_url,
                                                                       monkeypatch) -> None:
    checked = []
    real_check = AsyncConnectionPool.check_connection

    async def counting_check(conn) -> None:
        checked.append(conn)
        await real_check(conn)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting_check))
    pool = postgres.create_pool(settings.model_copy(update={"db_pool_min": 1,
                                                            "db_pool_max": 1}))
    await pool.open(wait=True)
    try:
        seen = set()
        for _ in range(5):
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
                seen.add(id(conn))
        assert len(seen) == 1
        assert len(checked) == 1  # the first borrow: never handed back before

        monkeypatch.setattr(postgres, "CHECK_AFTER_IDLE_SECONDS", 0.0)
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
        assert len(checked) == 2
        monkeypatch.setattr(postgres, "CHECK_AFTER_IDLE_SECONDS", 60.0)

        # The server ends the idle connection (as a restart would): the next borrow sees the
        # end of stream on its socket, checks, and gets a new connection that works.
        async with pool.connection() as conn:
            backend = (await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone())
        with psycopg.connect(database_url, autocommit=True) as admin:
            # The timeout: wait until the backend has gone (PostgreSQL 14+).
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (backend["pid"],))
        async with pool.connection(timeout=10) as conn:
            row = await (await conn.execute("SELECT pg_backend_pid() AS pid")).fetchone()
        assert row["pid"] != backend["pid"]
        assert len(checked) >= 3
    finally:
        await pool.close()

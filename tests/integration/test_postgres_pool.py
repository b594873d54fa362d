"""The services' connection pool: connections reused, checked only after sitting idle."""

from psycopg_pool import AsyncConnectionPool

from infra import postgres


async def test_connections_are_reused_and_checked_only_after_idling(settings,
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
        assert pool.get_stats()["connections_num"] == 1
    finally:
        await pool.close()

"""What an in-process test leaves in the run's database: its servers' unfinished files are
failed at its end, so that no reconciler of the run's e2e tests (the same database)
re-drives them."""

from infra.postgres import Pool


async def fail_unfinished(pool: Pool, server_ids: list[int], *, left_by: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE files SET status = 'failed', lease_until = NULL,"
            " error_message = %s WHERE server_id = ANY(%s)"
            " AND status NOT IN ('notified', 'failed', 'missing')",
            (f"left by {left_by}", server_ids))

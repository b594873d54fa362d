"""Every SQL statement the admin service runs, one module per feature.

Each function takes the pool, runs one short transaction at most, and returns plain dict
rows; psycopg errors that a caller can act on become the modules' own exceptions.
"""

from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow

from infra.postgres import Pool

Row = dict[str, Any]

READY_TIMEOUT_S = 2.0


async def fetch_one(cursor: AsyncCursor[DictRow]) -> Row | None:
    return await cursor.fetchone()


async def ping(pool: Pool) -> None:
    async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
        await conn.execute("SELECT 1")

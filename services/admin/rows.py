"""The rows the admin's queries return: plain dicts, read through psycopg's ``dict_row``.

Each feature's ``queries`` module runs one short transaction at most per function, and
turns the psycopg errors a caller can act on into its own exceptions.
"""

from typing import Any

from psycopg import AsyncCursor
from psycopg.rows import DictRow

Row = dict[str, Any]


async def fetch_one(cursor: AsyncCursor[DictRow]) -> Row | None:
    return await cursor.fetchone()

"""The outbox rows a test's state changes wrote, taken out of the run's database so that no
relay of a pipeline started later in the run sends them."""

from typing import Any
from uuid import UUID

from infra.postgres import Pool


async def take_outbox(pool: Pool, file_id: UUID) -> list[dict[str, Any]]:
    """The rows of ``file_id``'s messages, oldest first: stage, body, message_id and the
    delay (seconds from their commit to ``not_before``, None for no delay)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM outbox WHERE message_id LIKE %s"
            " RETURNING id, stage, body, message_id,"
            "           EXTRACT(EPOCH FROM not_before - created_at)::float8 AS delay",
            (f"{file_id}:%",))
        rows = sorted(await cur.fetchall(), key=lambda row: row["id"])
    return [{key: row[key] for key in ("stage", "body", "message_id", "delay")} for row in rows]

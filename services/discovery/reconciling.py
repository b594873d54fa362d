"""The reconciler: re-announces files whose worker died or whose message was lost.

Nothing in the pipeline depends on one message surviving. A file whose claim expired, or
that has waited too long for its next stage, gets that stage's message again; the stages'
compare-and-set claims make any duplicate harmless.
"""

import logging

from infra.broker import StagePublisher
from infra.file_states import file_row, message_for
from infra.postgres import Pool
from infra.telemetry import StageMetrics
from services.discovery import queries

log = logging.getLogger(__name__)

BATCH = 500


async def redrive_stalled(pool: Pool, publisher: StagePublisher, metrics: StageMetrics,
                          *, stale_seconds: int) -> int:
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(queries.CLAIM_STALLED, {"stale": stale_seconds, "limit": BATCH})
        rows = await cur.fetchall()
    for row in rows:
        stage, message = message_for(row)
        await publisher.send(stage, message, message_id=f"{row.id}:{stage}")
        metrics.transitions.labels("redriven").inc()
        log.info("redriven", extra={"file_id": str(row.id), "event": "redriven",
                                    "status": row.status})
    return len(rows)

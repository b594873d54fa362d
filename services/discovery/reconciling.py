"""The reconciler: re-announces files whose worker died or whose message was lost, and
sends the files of a lost spool to be downloaded again.

Nothing in the pipeline depends on one message surviving. A message lost between a commit
and its publish is the outbox relay's, seconds later (infra/outbox.py); the reconciler is
the backstop for the rest. A file whose claim expired, or that has waited too long for its
next stage (a purged queue, a dead-lettered message), gets that stage's message again; the
stages' compare-and-set claims make any duplicate harmless. A file whose copy was in a spool that
stopped showing life (``infra.spool.registry``), or whose spool's queue is gone, is
``spool_lost``: back to ``discovered`` for any host, or failed after too many losses.
"""

import logging

from aio_pika.exceptions import DeliveryError

from contracts import SPOOLED
from infra import file_states
from infra.broker import StagePublisher
from infra.file_states import SPOOL_HELD, FileRow, Status, file_row, message_for, outgoing_for
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.settings import Settings
from infra.spool import registry
from infra.telemetry import StageMetrics
from services.discovery import queries

log = logging.getLogger(__name__)

BATCH = 500


async def recover_lost_copies(pool: Pool, outbox: Outbox, metrics: StageMetrics,
                              settings: Settings) -> int:
    """Send the files of spools that stopped showing life to be downloaded again."""
    rows = await file_states.lose_copies_of_dead_spools(
        pool, lost_after=settings.spool_lost_after_seconds,
        max_losses=settings.max_spool_losses, limit=BATCH)
    await _announce(outbox, metrics, rows)
    await registry.forget_silent(pool, held=SPOOL_HELD)
    return len(rows)


async def redrive_stalled(pool: Pool, publisher: StagePublisher, outbox: Outbox,
                          metrics: StageMetrics, settings: Settings, *,
                          stale_seconds: int) -> int:
    """Send again the message of each file stalled in a state (no state change: straight
    to the broker); a copy whose spool's queue is gone is lost."""
    async with pool.connection() as conn, conn.cursor(row_factory=file_row) as cur:
        await cur.execute(queries.CLAIM_STALLED, {
            "stale": stale_seconds, "limit": BATCH,
            "lost_after": settings.spool_lost_after_seconds})
        rows = await cur.fetchall()
    for row in rows:
        stage, message = message_for(row)
        try:
            await publisher.send(stage, message, message_id=f"{row.id}:{stage}")
        except DeliveryError:
            if stage not in SPOOLED:
                raise
            # The spool's queue is gone (it expired, or was deleted): so is the copy.
            lost = await file_states.lose_copy(
                pool, row.id, expect=SPOOL_HELD, spool=row.spool_id,
                reason=f"the queue of spool {row.spool_id} is gone",
                max_losses=settings.max_spool_losses)
            await _announce(outbox, metrics, [] if lost is None else [lost])
            continue
        metrics.transitions.labels("redriven").inc()
        log.info("redriven", extra={"file_id": str(row.id), "event": "redriven",
                                    "status": row.status})
    return len(rows)


async def _announce(outbox: Outbox, metrics: StageMetrics, rows: list[FileRow]) -> None:
    """Send the files that went back to ``discovered`` to the downloaders; what the broker
    does not take now, the outbox relay sends."""
    for row in rows:
        metrics.transitions.labels("spool_lost").inc()
        if row.status is Status.DISCOVERED:
            await outbox.send(outgoing_for(row))

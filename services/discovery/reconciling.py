"""The reconciler: re-announces files whose worker died or whose message was lost.

Nothing in the pipeline depends on one message surviving. A file whose claim expired, or
that has waited too long for its next stage, gets that stage's message again; the stages'
compare-and-set claims make any duplicate harmless.
"""

import logging
from typing import Any

from pydantic import BaseModel

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage
from infra.broker import StagePublisher
from infra.file_states import Status
from infra.postgres import Pool
from infra.telemetry import StageMetrics
from services.discovery import queries

log = logging.getLogger(__name__)

BATCH = 500


def message_for(row: dict[str, Any]) -> tuple[Stage, BaseModel]:
    """The message that makes the next stage pick the file up from where it stands."""
    status = Status(row["status"])
    if status in (Status.DISCOVERED, Status.DOWNLOADING):
        return Stage.DISCOVERED, FileDiscovered(
            file_id=row["id"], server_id=row["server_id"], remote_path=row["remote_path"],
            size=row["size"],
        )
    if status in (Status.DOWNLOADED, Status.STORING):
        return Stage.DOWNLOADED, FileDownloaded(
            file_id=row["id"], size=row["size"], sha256=row["sha256"], md5=row["md5"],
        )
    if status is Status.STORED:
        return Stage.STORED, FileStored(
            file_id=row["id"], bucket=row["bucket"], object_key=row["object_key"],
        )
    raise ValueError(f"nothing to re-drive in status {status}")


async def redrive_stalled(pool: Pool, publisher: StagePublisher, metrics: StageMetrics,
                          *, stale_seconds: int) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(queries.CLAIM_STALLED, {"stale": stale_seconds, "limit": BATCH})
        rows = await cur.fetchall()
    for row in rows:
        stage, message = message_for(row)
        await publisher.send(stage, message, message_id=f"{row['id']}:{stage}")
        metrics.transitions.labels("redriven").inc()
        log.info("redriven", extra={"file_id": str(row["id"]), "event": "redriven",
                                    "status": row["status"]})
    return len(rows)

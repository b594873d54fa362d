"""The notifier's work on a batch of stored files: one claim, every ``FileReady`` published
with its confirm awaited together, one finish.

Each file is still announced on its own (its own message, ``message_id`` its file id): a
notice the broker refuses sends that file alone to its retry.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

from faststream import Context

from contracts import FileStored, Stage, StoredBatch
from infra import file_states
from infra.batches import each_or_together
from infra.file_states import Finished, Status
from infra.retries import retry_later
from services.notifier.handlers import NotifierDeps, announce, announced, notify_stored


async def take_stored(msg: StoredBatch | FileStored,
                      deps: Annotated[NotifierDeps, Context()]) -> None:
    """The ``stored`` stage's subscriber: a file alone, or a batch."""
    await each_or_together(msg, FileStored, alone=lambda file: notify_stored(file, deps),
                           together=lambda _, files: notify_batch(files, deps))


async def notify_batch(files: list[FileStored], deps: NotifierDeps) -> None:
    settings = deps.settings
    rows = await file_states.claim_all(deps.pool, [file.file_id for file in files],
                                       deps.claiming)
    if not rows:
        return
    started = time.perf_counter()
    results = await asyncio.gather(*(announce(deps, row) for row in rows),
                                   return_exceptions=True)
    messages = {file.file_id: file for file in files}
    await asyncio.gather(*(
        retry_later(deps, messages[row.id], stage=Stage.STORED, claimed=Status.STORED,
                    back_to=Status.STORED, event="notify_failed", error=result,
                    transient=True, attempt=row.attempts)
        for row, result in zip(rows, results, strict=True) if isinstance(result, Exception)))
    now = datetime.now(UTC)
    sent = [Finished(row.id, {"notified_at": now}, announced(settings, row))
            for row, result in zip(rows, results, strict=True) if result is None]
    if not sent:
        return
    done = await file_states.finish_all(deps.pool, sent, expect=Status.STORED,
                                        to=Status.NOTIFIED, event="notified")
    if done.rows:
        deps.metrics.transitions.labels("notified").inc(len(done.rows))
        deps.metrics.duration.labels("notify").observe(time.perf_counter() - started)

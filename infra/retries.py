"""What a stage does when its work on a file fails.

The claim is handed back (or the file failed for good) in one statement with its event and
the retry's outbox row, and the retry is scheduled through the broker's delay queue: no
handler ever sleeps while holding a message.
"""

import logging
from uuid import UUID

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage
from infra import file_states
from infra.broker import backoff_seconds
from infra.failures import reason_of
from infra.file_states import Status
from infra.outbox import Outgoing
from infra.runtime import StageDeps

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """A one-line reason for the journal: the error's own message, never a traceback."""
    text = str(exc) or exc.__class__.__name__
    return text if len(text) <= 500 else text[:497] + "..."


async def retry_later(
    deps: StageDeps,
    message: FileDiscovered | FileDownloaded | FileStored,
    *,
    stage: Stage,
    claimed: Status,
    back_to: Status,
    event: str,
    error: BaseException,
    transient: bool,
    attempt: int,
) -> None:
    """Hand the claim back (``message``'s file to ``back_to``, or failed once its attempts
    are used up) and send ``message`` to ``stage`` again after a backoff that grows with
    ``attempt``, the claim's attempt number. The failure is counted by its reason, unless
    the claim was lost meanwhile (its new owner records the file)."""
    file_id: UUID = message.file_id
    delay = backoff_seconds(attempt)
    retry = Outgoing(stage, message, f"{file_id}:{stage}", delay)
    row = await file_states.release(
        deps.pool, file_id, expect=claimed, back_to=back_to, event=event,
        error=describe(error), permanent=not transient,
        max_attempts=deps.settings.max_attempts, then=retry,
    )
    if row is None:
        return
    deps.metrics.failed(stage, reason_of(error), retried=row.status == back_to)
    if row.status != back_to:
        return
    await deps.outbox.send(retry)
    log.info("retry scheduled in %.1fs", delay,
             extra={"file_id": str(file_id), "event": "retry_scheduled"})

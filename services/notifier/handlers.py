"""The notifier's subscriber: announce a stored file once, then record that it was."""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from faststream import Context
from faststream.rabbit import RabbitBroker

from contracts import FileStored, Stage
from infra import file_states
from infra.file_states import Claim, FileWithServer, Status
from infra.retries import retry_later
from infra.runtime import StageDeps
from services.notifier.notifying import file_ready
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifierDeps(StageDeps):
    """``external`` is the consumer's broker, apart from the pipeline's (``publisher``)."""

    settings: NotifierSettings
    external: RabbitBroker

    @property
    def claiming(self) -> Claim:
        """A stored file, kept stored: the lease alone marks it as being announced, so two
        replicas handed the same message do not both publish."""
        return Claim(expect=Status.STORED, to=Status.STORED,
                     lease_seconds=self.settings.lease_seconds, event=None)


async def notify_stored(msg: FileStored, deps: Annotated[NotifierDeps, Context()]) -> None:
    settings = deps.settings
    row = await file_states.claim(deps.pool, msg.file_id, deps.claiming)
    if row is None:
        log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
        return
    started = time.perf_counter()
    try:
        await announce(deps, row)
    except Exception as exc:
        await retry_later(deps, msg, stage=Stage.STORED, claimed=Status.STORED,
                          back_to=Status.STORED, event="notify_failed", error=exc,
                          transient=True, attempt=row.attempts)
        return
    done = await file_states.finish(
        deps.pool, msg.file_id, expect=Status.STORED, to=Status.NOTIFIED, event="notified",
        columns={"notified_at": datetime.now(UTC)},
        **announced(settings, row),
    )
    if done is not None:
        deps.metrics.transitions.labels("notified").inc()
        deps.metrics.duration.labels("notify").observe(time.perf_counter() - started)


async def announce(deps: NotifierDeps, row: FileWithServer) -> None:
    """Publish the file's ``FileReady``, returning once the broker confirmed it."""
    settings = deps.settings
    await deps.external.publish(
        file_ready(row), exchange=settings.notify_exchange,
        routing_key=settings.notify_routing_key, mandatory=True, persist=True,
        message_id=str(row.id), content_type="application/json",
    )


def announced(settings: NotifierSettings, row: FileWithServer) -> dict[str, str]:
    """The ``notified`` event's details: where the notice went, under which id."""
    return {"exchange": settings.notify_exchange, "routing_key": settings.notify_routing_key,
            "message_id": str(row.id)}

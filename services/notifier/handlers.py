"""The notifier's subscriber: announce a stored file once, then record that it was."""

import logging
from datetime import UTC, datetime

from faststream.rabbit import RabbitBroker

from contracts import FileStored, Stage
from infra import file_states
from infra.file_states import Status
from infra.retries import retry_later
from infra.runtime import ServiceRuntime
from services.notifier.notifying import file_ready
from services.notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

class NotifyStage:
    def __init__(self, runtime: ServiceRuntime, settings: NotifierSettings,
                 external: RabbitBroker) -> None:
        self._runtime = runtime
        self._settings = settings
        self._pool = runtime.pool
        self._external = external

    async def handle(self, msg: FileStored) -> None:
        settings = self._settings
        # The lease alone marks the file as being announced, so two replicas handed the
        # same message do not both publish.
        row = await file_states.claim(
            self._pool, msg.file_id, expect=Status.STORED, to=Status.STORED,
            lease_seconds=settings.lease_seconds, event=None,
        )
        if row is None:
            log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
            return
        message_id = str(msg.file_id)
        try:
            await self._external.publish(
                file_ready(row), exchange=settings.notify_exchange,
                routing_key=settings.notify_routing_key, mandatory=True, persist=True,
                message_id=message_id, content_type="application/json",
            )
        except Exception as exc:
            await retry_later(
                self._pool, self._runtime.publisher, file_id=msg.file_id, stage=Stage.STORED,
                message=msg, claimed=Status.STORED, back_to=Status.STORED,
                event="notify_failed", error=exc, transient=True,
                max_attempts=settings.max_attempts,
            )
            return
        done = await file_states.finish(
            self._pool, msg.file_id, expect=Status.STORED, to=Status.NOTIFIED, event="notified",
            columns={"notified_at": datetime.now(UTC)},
            exchange=settings.notify_exchange, routing_key=settings.notify_routing_key,
            message_id=message_id,
        )
        if done is not None:
            self._runtime.metrics.transitions.labels("notified").inc()


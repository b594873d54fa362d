"""How many messages wait in each pipeline queue, without RabbitMQ's management plugin: a
passive declare answers with the queue's count of ready messages (those handed to a
consumer and not yet acknowledged are not in it)."""

from dataclasses import dataclass

from aio_pika import Connection
from aio_pika.abc import AbstractChannel
from aio_pika.connection import make_url
from aio_pika.exceptions import ChannelNotFoundEntity

from contracts import SPOOLED, Stage, Topology


@dataclass(frozen=True)
class Queue:
    name: str
    stage: Stage
    kind: str  # work, retry (delayed copies waiting for their backoff) or dead_letter


def pipeline_queues(topology: Topology, spools: list[str]) -> list[Queue]:
    """Every stage's queue and retry queue (a spooled stage's of each spool in ``spools``),
    and every stage's dead-letter queue."""
    queues: list[Queue] = []
    for stage in Stage:
        for spool in spools if stage in SPOOLED else [None]:
            queues += [Queue(topology.queue(stage, spool), stage, "work"),
                       Queue(topology.retry_queue(stage, spool), stage, "retry")]
        queues.append(Queue(topology.dead_letter_queue(stage), stage, "dead_letter"))
    return queues


class QueueDepths:
    """Reads queue depths on a connection of its own, opened at the first read and again
    after it was lost: a passive declare of a queue that does not exist (a spool's queues
    expired) closes its channel, which must never be the admin's publishing one."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Connection | None = None

    async def _connected(self) -> Connection:
        if self._connection is None or self._connection.is_closed:
            connection = Connection(make_url(self._url))
            try:
                await connection.connect(timeout=5)
            except BaseException:
                await connection.close()  # else its finalizer leaves a close un-awaited
                raise
            self._connection = connection
        return self._connection

    async def read(self, queues: list[Queue]) -> dict[Queue, int]:
        """The depth of each of ``queues`` that exists."""
        connection = await self._connected()
        depths: dict[Queue, int] = {}
        channel: AbstractChannel | None = None
        try:
            for queue in queues:
                if channel is None or channel.is_closed:
                    channel = await connection.channel(publisher_confirms=False)
                try:
                    declared = await channel.declare_queue(queue.name, passive=True)
                except ChannelNotFoundEntity:
                    continue
                count = declared.declaration_result.message_count
                if count is not None:
                    depths[queue] = count
        finally:
            if channel is not None and not channel.is_closed:
                await channel.close()
        return depths

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

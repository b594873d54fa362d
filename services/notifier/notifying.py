"""The external side: where FileReady goes and what it says."""

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from contracts import FileReady, ServerRef
from infra.file_states import FileWithServer
from services.notifier.settings import NotifierSettings


async def declare_external(broker: RabbitBroker, settings: NotifierSettings) -> None:
    """The consumer's exchange and queue, with a dead-letter queue for rejected notices."""
    dlx_name = f"{settings.notify_exchange}.dlx"
    ready = await broker.declare_exchange(
        RabbitExchange(settings.notify_exchange, type=ExchangeType.DIRECT, durable=True)
    )
    dlx = await broker.declare_exchange(
        RabbitExchange(dlx_name, type=ExchangeType.FANOUT, durable=True)
    )
    queue = await broker.declare_queue(RabbitQueue(
        settings.notify_queue, queue_type=QueueType.QUORUM, durable=True,
        arguments={"x-dead-letter-exchange": dlx_name},
    ))
    await queue.bind(ready, routing_key=settings.notify_routing_key)
    dlq = await broker.declare_queue(RabbitQueue(
        f"{settings.notify_queue}.dlq", queue_type=QueueType.QUORUM, durable=True,
    ))
    await dlq.bind(dlx)


def file_ready(row: FileWithServer) -> FileReady:
    return FileReady(
        file_id=row.id,
        server=ServerRef(id=row.server_id, name=row.server_name or "upload"),
        remote_path=row.remote_path,
        filename=row.filename,
        size=row.size,
        sha256=row.sha256,
        md5=row.md5,
        bucket=row.bucket,
        object_key=row.object_key,
        etag=row.etag,
        discovered_at=row.created_at,
        stored_at=row.stored_at,
    )

"""RabbitMQ: the broker, the durable pipeline topology, and publishing with confirms.

Every service declares the whole topology on start, so a publish never lands on an
exchange without its queue (which RabbitMQ would silently drop), whatever order the
services start in.
"""

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import (
    Channel,
    ExchangeType,
    QueueType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
    RabbitRouter,
)
from pydantic import BaseModel

from contracts import Stage, Topology

# Quorum queues count redeliveries; a message that crashes its consumer this often is
# parked in the stage's dead-letter queue instead of looping. The reconciler re-drives
# the file from the database.
DELIVERY_LIMIT = 20


def create_broker(url: str, *, prefetch: int, **kwargs: Any) -> RabbitBroker:
    return RabbitBroker(
        url,
        # Confirms on, and an unroutable mandatory message raises instead of vanishing.
        default_channel=Channel(
            prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True
        ),
        graceful_timeout=30.0,
        reconnect_interval=2.0,
        logger=logging.getLogger("intake.broker"),
        log_level=logging.DEBUG,  # one line per message is too much; state changes are logged
        **kwargs,
    )


def exchange(topology: Topology) -> RabbitExchange:
    return RabbitExchange(topology.exchange, type=ExchangeType.DIRECT, durable=True)


def stage_queue(topology: Topology, stage: Stage) -> RabbitQueue:
    return RabbitQueue(
        topology.queue(stage),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=topology.routing_key(stage),
        arguments={
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": topology.routing_key(stage),
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )


def retry_queue(topology: Topology, stage: Stage) -> RabbitQueue:
    """Holds delayed copies of a stage's messages; each expires back into the stage.

    Per-message expiration only fires at the head of a queue, so a long delay can hold up a
    shorter one behind it; delays are capped (``backoff_seconds``) to bound that wait.
    """
    return RabbitQueue(
        f"{topology.queue(stage)}.retry",
        durable=True,
        arguments={
            "x-dead-letter-exchange": topology.exchange,
            "x-dead-letter-routing-key": topology.routing_key(stage),
        },
    )


def stage_router(topology: Topology, handlers: Mapping[Stage, Callable[..., Awaitable[None]]],
                 *, prefetch: Mapping[Stage, int] | None = None) -> RabbitRouter:
    """A service's router: each handler (annotated with its stage's message type)
    subscribed to its stage's queue.

    A message is acknowledged after the handler returned, so only after the state it
    changed is committed; an exception leaves it unacknowledged and RabbitMQ redelivers it.
    A stage in ``prefetch`` gets a channel of its own with that many messages at once,
    apart from the broker's default channel that the other subscribers share.
    """
    router = RabbitRouter()
    for stage, handler in handlers.items():
        count = (prefetch or {}).get(stage)
        channel = None if count is None else Channel(prefetch_count=count)
        router.subscriber(stage_queue(topology, stage), exchange(topology), channel=channel,
                          ack_policy=AckPolicy.NACK_ON_ERROR)(handler)
    return router


async def declare_topology(broker: RabbitBroker, topology: Topology) -> None:
    main = await broker.declare_exchange(exchange(topology))
    dlx = await broker.declare_exchange(
        RabbitExchange(topology.dead_letter_exchange, type=ExchangeType.DIRECT, durable=True)
    )
    for stage in Stage:
        queue = await broker.declare_queue(stage_queue(topology, stage))
        await queue.bind(main, routing_key=topology.routing_key(stage))
        dlq = await broker.declare_queue(
            RabbitQueue(topology.dead_letter_queue(stage), queue_type=QueueType.QUORUM,
                        durable=True)
        )
        await dlq.bind(dlx, routing_key=topology.routing_key(stage))
        await broker.declare_queue(retry_queue(topology, stage))


def backoff_seconds(attempt: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: uniform in [base/2, min(cap, base * 2^attempt)]."""
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(min(base / 2, ceiling), ceiling)  # noqa: S311 - not cryptographic


class StagePublisher:
    """Publishes pipeline messages to the next stage, or delayed back to the same one."""

    def __init__(self, broker: RabbitBroker, topology: Topology) -> None:
        self._broker = broker
        self._topology = topology

    async def send(self, stage: Stage, message: BaseModel, *, message_id: str) -> None:
        await self._broker.publish(
            message,
            exchange=self._topology.exchange,
            routing_key=self._topology.routing_key(stage),
            persist=True,
            mandatory=True,
            message_id=message_id,
        )

    async def send_later(
        self, stage: Stage, message: BaseModel, *, message_id: str, delay: float
    ) -> None:
        await self._broker.publish(
            message,
            routing_key=retry_queue(self._topology, stage).name,
            persist=True,
            mandatory=True,
            message_id=message_id,
            expiration=timedelta(seconds=max(delay, 0.001)),
        )

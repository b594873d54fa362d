"""RabbitMQ: the broker, the durable pipeline topology, and publishing with confirms.

Every service declares the whole topology on start, so a publish never lands on an
exchange without its queue (which RabbitMQ would silently drop), whatever order the
services start in.
"""

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
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

from contracts import SPOOLED, DownloadedBatch, SpooledMessage, Stage, Topology

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


@dataclass(frozen=True)
class SpoolQueues:
    """The queues of one host's spool (``contracts.SPOOLED`` stages and their retries).
    RabbitMQ removes them once unused for ``expires_seconds``: a host that is gone leaves
    nothing behind, and the reconciler has sent its files elsewhere long before."""

    spool: str
    expires_seconds: int


def _expiring(spool: SpoolQueues | None) -> dict[str, int]:
    return {} if spool is None else {"x-expires": spool.expires_seconds * 1000}


def _spool_id(spool: SpoolQueues | None) -> str | None:
    return None if spool is None else spool.spool


def stage_queue(topology: Topology, stage: Stage,
                spool: SpoolQueues | None = None) -> RabbitQueue:
    return RabbitQueue(
        topology.queue(stage, _spool_id(spool)),
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=topology.routing_key(stage, _spool_id(spool)),
        arguments={
            "x-dead-letter-exchange": topology.dead_letter_exchange,
            "x-dead-letter-routing-key": topology.dead_letter_routing_key(stage),
            "x-delivery-limit": DELIVERY_LIMIT,
            **_expiring(spool),
        },
    )


def retry_queue(topology: Topology, stage: Stage,
                spool: SpoolQueues | None = None) -> RabbitQueue:
    """Holds delayed copies of a stage's messages; each expires back into the stage.

    Per-message expiration only fires at the head of a queue, so a long delay can hold up a
    shorter one behind it; delays are capped (``backoff_seconds``) to bound that wait.
    """
    return RabbitQueue(
        topology.retry_queue(stage, _spool_id(spool)),
        durable=True,
        arguments={
            "x-dead-letter-exchange": topology.exchange,
            "x-dead-letter-routing-key": topology.routing_key(stage, _spool_id(spool)),
            **_expiring(spool),
        },
    )


def stage_router(topology: Topology, handlers: Mapping[Stage, Callable[..., Awaitable[None]]],
                 *, prefetch: Mapping[Stage, int] | None = None,
                 spool: SpoolQueues | None = None) -> RabbitRouter:
    """A service's router: each handler (annotated with its stage's message type)
    subscribed to its stage's queue, for a spooled stage the queue of ``spool``.

    A message is acknowledged after the handler returned, so only after the state it
    changed is committed; an exception leaves it unacknowledged and RabbitMQ redelivers it.
    A stage in ``prefetch`` gets a channel of its own with that many messages at once,
    apart from the broker's default channel that the other subscribers share.
    """
    router = RabbitRouter()
    for stage, handler in handlers.items():
        count = (prefetch or {}).get(stage)
        channel = None if count is None else Channel(prefetch_count=count)
        queue = stage_queue(topology, stage, spool if stage in SPOOLED else None)
        router.subscriber(queue, exchange(topology), channel=channel,
                          ack_policy=AckPolicy.NACK_ON_ERROR, title=queue.name)(handler)
    return router


async def declare_topology(broker: RabbitBroker, topology: Topology) -> None:
    """The exchanges, every stage's dead-letter queue, and the queues of the stages any
    replica takes; a spool's queues are :func:`declare_spool_queues`."""
    main = await broker.declare_exchange(exchange(topology))
    dlx = await broker.declare_exchange(
        RabbitExchange(topology.dead_letter_exchange, type=ExchangeType.DIRECT, durable=True)
    )
    for stage in Stage:
        dlq = await broker.declare_queue(
            RabbitQueue(topology.dead_letter_queue(stage), queue_type=QueueType.QUORUM,
                        durable=True)
        )
        await dlq.bind(dlx, routing_key=topology.dead_letter_routing_key(stage))
        if stage not in SPOOLED:
            await _declare(broker, main, topology, stage, None)
    _forget_declared(broker)


async def declare_spool_queues(broker: RabbitBroker, topology: Topology,
                               spool: SpoolQueues) -> None:
    """Declare (again) one spool's queues. Declaring counts as use: the spool's uploader
    does it with every heartbeat, so that its retry queue, which nobody consumes, lives."""
    main = await broker.declare_exchange(exchange(topology))
    for stage in SPOOLED:
        await _declare(broker, main, topology, stage, spool)
    _forget_declared(broker)


def _forget_declared(broker: RabbitBroker) -> None:
    """FastStream keeps each queue it declared, with the channel it was declared on, and a
    subscriber that starts later consumes from that kept queue: on the broker's default
    channel, so that the subscriber's own channel and its prefetch (``stage_router``) would
    be ignored. Forgetting them lets each subscriber declare its queue on its own channel."""
    broker.config.declarer.disconnect()


async def _declare(broker: RabbitBroker, main: Any, topology: Topology, stage: Stage,
                   spool: SpoolQueues | None) -> None:
    queue = await broker.declare_queue(stage_queue(topology, stage, spool))
    await queue.bind(main, routing_key=topology.routing_key(stage, _spool_id(spool)))
    await broker.declare_queue(retry_queue(topology, stage, spool))


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
        """Publish to ``stage``; a spooled message goes to its spool's queue, and raises
        when that queue is gone (RabbitMQ returns it: unroutable)."""
        await self.publish(stage, message, spool=_spool_of(message), message_id=message_id)

    async def send_later(
        self, stage: Stage, message: BaseModel, *, message_id: str, delay: float
    ) -> None:
        await self.publish(stage, message, spool=_spool_of(message), message_id=message_id,
                           delay=delay)

    async def publish(self, stage: Stage, body: BaseModel | dict[str, Any], *,
                      spool: str | None, message_id: str, delay: float | None = None) -> None:
        """Publish ``body`` (a message, or its JSON as the outbox keeps it) to ``stage``'s
        queue of ``spool``, or with a ``delay`` to that queue's retry queue; returns once
        the broker confirmed it."""
        if delay is None:
            await self._broker.publish(
                body, exchange=self._topology.exchange,
                routing_key=self._topology.routing_key(stage, spool),
                persist=True, mandatory=True, message_id=message_id,
            )
            return
        await self._broker.publish(
            body, routing_key=self._topology.retry_queue(stage, spool),
            persist=True, mandatory=True, message_id=message_id,
            expiration=timedelta(seconds=max(delay, 0.001)),
        )


def _spool_of(message: BaseModel) -> str | None:
    return message.spool if isinstance(message, SpooledMessage | DownloadedBatch) else None

"""The outbox against the run's PostgreSQL and RabbitMQ: the fast path forgets what it sent;
the relay sends what was committed and never sent, once, to the right queue, and leaves
alone what may still be on its way."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from faststream.rabbit import RabbitBroker

from contracts import FileDiscovered, FileDownloaded, Stage, Topology
from infra import outbox as outbox_rows
from infra.broker import StagePublisher, create_broker, declare_topology
from infra.outbox import Outbox, Outgoing
from tests.integration.outbox_rows import take_outbox
from tests.integration.recording import RecordingPublisher

GRACE = 10


def _discovered(delay: float | None = None) -> Outgoing:
    file_id = uuid.uuid4()
    return Outgoing(Stage.DISCOVERED, FileDiscovered(
        file_id=file_id, server_id=1, remote_path="/in/a.csv", size=10),
        f"{file_id}:discovered", delay)


async def _commit(pool, outgoing: Outgoing, *, age: float = 0) -> None:
    """The outgoing message's row as a state change commits it, ``age`` seconds ago."""
    async with pool.connection() as conn, conn.transaction():
        await outbox_rows.queue(conn, [outgoing])
        await conn.execute(
            "UPDATE outbox SET created_at = created_at - make_interval(secs => %s),"
            " not_before = not_before - make_interval(secs => %s) WHERE message_id = %s",
            (age, age, outgoing.message_id))


def _file_id(outgoing: Outgoing) -> Any:
    return outgoing.message.file_id  # type: ignore[attr-defined]


class _Refusing(RecordingPublisher):
    async def send(self, stage: Stage, message: Any, *, message_id: str) -> None:
        raise ConnectionError("broker gone")


async def test_a_published_message_is_forgotten_in_the_next_batch(pool) -> None:
    publisher = RecordingPublisher()
    box = Outbox(pool, publisher, grace_seconds=GRACE)  # type: ignore[arg-type]
    first = _discovered()
    await _commit(pool, first)

    assert await box.send(first)
    await _commit(pool, first)  # the same file sent to the same stage again, not yet sent
    await box.forget_sent()

    assert publisher.sent == [(Stage.DISCOVERED, first.message)]
    assert len(await take_outbox(pool, _file_id(first))) == 1  # only the one published


async def test_a_publish_refused_after_the_commit_is_left_to_the_relay(pool) -> None:
    box = Outbox(pool, _Refusing(), grace_seconds=GRACE)  # type: ignore[arg-type]
    outgoing = _discovered()
    await _commit(pool, outgoing)

    assert not await box.send(outgoing)  # logged, never raised: the state is committed
    await box.forget_sent()

    assert len(await take_outbox(pool, _file_id(outgoing))) == 1


@pytest.fixture
def topology(amqp_prefix) -> Topology:
    return Topology(f"{amqp_prefix}.o{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def broker(amqp_url, topology) -> AsyncIterator[RabbitBroker]:
    broker = create_broker(amqp_url, prefetch=1)
    await broker.connect()
    await declare_topology(broker, topology)
    yield broker
    await broker.stop()


async def _relay_all(box: Outbox) -> None:
    """Relay passes until nothing is due (the run's other tests may have left rows)."""
    while await box.relay():
        pass


async def _messages(amqp_url: str, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name)
        taken = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append(message)
        return taken


async def test_the_relay_sends_an_old_row_once_and_forgets_it(pool, broker, topology,
                                                              amqp_url) -> None:
    box = Outbox(pool, StagePublisher(broker, topology), grace_seconds=GRACE)
    stale, young = _discovered(), _discovered()
    await _commit(pool, stale, age=GRACE + 1)  # its sender died before publishing
    await _commit(pool, young)  # its sender may be publishing it right now

    await _relay_all(box)
    await _relay_all(box)

    mine = [m for m in await _messages(amqp_url, topology.queue(Stage.DISCOVERED))
            if m.message_id in (stale.message_id, young.message_id)]
    assert [m.message_id for m in mine] == [stale.message_id]
    assert FileDiscovered.model_validate_json(mine[0].body) == stale.message
    assert await take_outbox(pool, _file_id(stale)) == []
    assert len(await take_outbox(pool, _file_id(young))) == 1


async def test_the_relay_sends_a_retry_to_its_retry_queue_for_the_time_left(
        pool, broker, topology, amqp_url) -> None:
    box = Outbox(pool, StagePublisher(broker, topology), grace_seconds=GRACE)
    retry = _discovered(delay=GRACE + 30)
    await _commit(pool, retry, age=GRACE + 1)

    await _relay_all(box)

    [message] = [m for m in await _messages(amqp_url, topology.retry_queue(Stage.DISCOVERED))
                 if m.message_id == retry.message_id]
    assert 25 < message.expiration <= 30
    assert FileDiscovered.model_validate_json(message.body) == retry.message
    assert await take_outbox(pool, _file_id(retry)) == []


async def test_the_relay_drops_a_message_whose_spool_queue_is_gone(pool, broker, topology,
                                                                   amqp_url) -> None:
    box = Outbox(pool, StagePublisher(broker, topology), grace_seconds=GRACE)
    file_id = uuid.uuid4()
    orphan = Outgoing(Stage.DOWNLOADED, FileDownloaded(
        file_id=file_id, size=1, sha256="a", md5="b", spool=f"gone-{file_id.hex[:8]}"),
        f"{file_id}:downloaded")
    after = _discovered()
    await _commit(pool, orphan, age=GRACE + 2)
    await _commit(pool, after, age=GRACE + 1)

    await _relay_all(box)

    assert await take_outbox(pool, file_id) == []  # dropped: the reconciler loses the copy
    assert await take_outbox(pool, _file_id(after)) == []  # and the pass went on
    assert [m.message_id for m in await _messages(amqp_url, topology.queue(Stage.DISCOVERED))
            if m.message_id == after.message_id] == [after.message_id]

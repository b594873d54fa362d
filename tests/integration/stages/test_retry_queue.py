"""What the stages' tests record as ``send_later`` comes back: through the real broker, a
message sent to a stage's retry queue returns to the stage's queue once its delay ran out."""

import asyncio
import time
import uuid

import aio_pika

from contracts import FileDiscovered, Stage, Topology
from infra.broker import StagePublisher, create_broker, declare_topology


async def test_a_delayed_message_returns_to_its_stage(amqp_url, amqp_prefix) -> None:
    topology = Topology(f"{amqp_prefix}.r{uuid.uuid4().hex[:8]}")
    message = FileDiscovered(file_id=uuid.uuid4(), server_id=1, remote_path="/in/a.csv",
                             size=10)
    broker = create_broker(amqp_url, prefetch=1)
    await broker.connect()
    try:
        await declare_topology(broker, topology)
        sent = time.monotonic()
        await StagePublisher(broker, topology).send_later(
            Stage.DISCOVERED, message, message_id="m1", delay=0.5)
    finally:
        await broker.stop()

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(topology.queue(Stage.DISCOVERED))
        while (back := await queue.get(no_ack=True, fail=False)) is None:
            assert time.monotonic() - sent < 30, "the delayed message never came back"
            await asyncio.sleep(0.05)
    assert time.monotonic() - sent >= 0.5
    assert back.message_id == "m1"
    assert FileDiscovered.model_validate_json(back.body) == message

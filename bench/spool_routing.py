"""How a copy's message reaches its spool's consumers, measured: the shared quorum queue
every uploader read before (any host could take a copy it does not have), against a quorum
queue per spool bound by routing key, and a classic queue per spool.

    .venv/bin/python -m bench.spool_routing [--messages 5000]

Publishes persistent messages with confirms (as StagePublisher does, one at a time) and
consumes them with acks at prefetch 4, against the local RabbitMQ; prints msgs/s for each.
"""

import argparse
import asyncio
import time
import uuid

import aio_pika

CASES = {  # name: (queue arguments, spools)
    "shared quorum queue": ({"x-queue-type": "quorum"}, 1),
    "quorum queue per spool (2 spools)": (
        {"x-queue-type": "quorum", "x-expires": 900_000}, 2),
    "classic queue per spool (2 spools)": ({"x-expires": 900_000}, 2),
}


async def _case(url: str, arguments: dict, spools: int, messages: int) -> tuple[float, float]:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange(f"bench-{uuid.uuid4().hex[:6]}",
                                                  aio_pika.ExchangeType.DIRECT,
                                                  auto_delete=True)
        queues = []
        for spool in range(spools):
            queue = await channel.declare_queue(f"bench.spool.{uuid.uuid4().hex[:6]}",
                                                durable=True, arguments=arguments)
            await queue.bind(exchange, routing_key=f"file.downloaded@{spool}")
            queues.append(queue)
        body = b'{"version":1,"file_id":"00000000-0000-0000-0000-000000000000","spool":"a"}'
        started = time.perf_counter()
        for i in range(messages):
            await exchange.publish(aio_pika.Message(body, delivery_mode=2),
                                   routing_key=f"file.downloaded@{i % spools}", mandatory=True)
        published = time.perf_counter() - started
        done = asyncio.Event()
        count = 0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count
            await message.ack()
            count += 1
            if count == messages:
                done.set()

        consumer = await connection.channel()
        await consumer.set_qos(prefetch_count=4)
        started = time.perf_counter()
        for queue in queues:
            await (await consumer.get_queue(queue.name)).consume(on_message)
        await done.wait()
        consumed = time.perf_counter() - started
        await consumer.close()
        for queue in queues:
            await queue.delete(if_unused=False, if_empty=False)
    return messages / published, messages / consumed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    args = parser.parse_args()
    await _case(args.url, {}, 1, 200)  # warm the broker up
    for name, (arguments, spools) in CASES.items():
        publish, consume = await _case(args.url, arguments, spools, args.messages)
        print(f"{name:38} publish {publish:7.0f} msgs/s   consume {consume:7.0f} msgs/s")


if __name__ == "__main__":
    asyncio.run(main())

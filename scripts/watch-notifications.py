"""Print every FileReady the notifier publishes from now on, without taking any from the
consumer's queue: a private auto-delete queue is bound beside it to the same exchange.

Usage: .venv/bin/python scripts/watch-notifications.py [ENV_FILE]   (Ctrl-C stops)
ENV_FILE defaults to ${INTAKE_STATE_DIR:-.state}/intake.env, the file run.sh writes.
"""

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import aio_pika

from services.notifier.settings import NotifierSettings


async def watch(settings: NotifierSettings) -> None:
    connection = await aio_pika.connect(settings.notify_url)
    async with connection:
        channel = await connection.channel()
        waiting = await channel.declare_queue(settings.notify_queue, passive=True)
        print(f"{waiting.declaration_result.message_count} message(s) wait in queue "
              f"{settings.notify_queue}; watching exchange {settings.notify_exchange} ...",
              flush=True)
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(settings.notify_exchange, routing_key=settings.notify_routing_key)
        async with tap.iterator(no_ack=True) as messages:
            async for message in messages:
                body = json.loads(message.body)
                print(json.dumps({"message_id": message.message_id, **body}), flush=True)


def main() -> None:
    default = Path(os.environ.get("INTAKE_STATE_DIR", ".state")) / "intake.env"
    env_file = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    settings = NotifierSettings(_env_file=env_file)  # type: ignore[call-arg]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watch(settings))


if __name__ == "__main__":
    main()

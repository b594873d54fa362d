"""The notifier's handler in-process, against the run's RabbitMQ and PostgreSQL: a stored
file is announced once with ``message_id`` = file id and recorded as notified; a publish
the broker does not take schedules a retry; a replay announces nothing; each file of a
batch is announced on its own."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from contracts import FileStored, Stage, StoredBatch
from infra import file_states
from infra.broker import create_broker
from services.notifier.batches import take_stored
from services.notifier.handlers import NotifierDeps, notify_stored
from services.notifier.notifying import declare_external
from services.notifier.settings import NotifierSettings
from tests.harness import take_notifications
from tests.integration.stages.conftest import add_file, events, failures, transitions


@pytest.fixture
async def notifier_settings(stage_settings: dict[str, Any]) -> NotifierSettings:
    """A consumer exchange and queue of the test's own."""
    name = f"{stage_settings['amqp_prefix']}.n{uuid.uuid4().hex[:8]}"
    return NotifierSettings.model_validate({
        **stage_settings, "notify_exchange": f"{name}.ready", "notify_queue": name})


@pytest.fixture
async def external(notifier_settings: NotifierSettings) -> AsyncIterator[RabbitBroker]:
    broker = create_broker(notifier_settings.notify_url, prefetch=1)
    await broker.connect()
    yield broker
    await broker.stop()


@pytest.fixture
def deps(pool, publisher, outbox, metrics, notifier_settings, external) -> NotifierDeps:
    return NotifierDeps(pool=pool, publisher=publisher, outbox=outbox, settings=notifier_settings,
                        metrics=metrics, external=external)


async def stored(pool, server) -> FileStored:
    row = await add_file(pool, server, status="stored", size=10, sha256="a" * 64,
                         md5="b" * 32, bucket="intake", object_key=f"k/{uuid.uuid4()}",
                         etag="b" * 32, stored_at=datetime.now(UTC))
    return FileStored(file_id=row.id, bucket=row.bucket, object_key=row.object_key)


async def test_a_stored_file_is_announced_once_and_recorded(deps, pool, publisher, registry,
                                                            partner, amqp_url):
    await declare_external(deps.external, deps.settings)
    server = await partner()
    msg = await stored(pool, server)

    await asyncio.gather(*(notify_stored(msg, deps) for _ in range(3)))
    await notify_stored(msg, deps)  # a replay once it is notified

    [(message_id, body)] = await take_notifications(amqp_url, deps.settings.notify_queue)
    assert message_id == str(msg.file_id) == body["file_id"]
    assert body["server"] == {"id": server["id"], "name": server["name"]}
    assert (body["bucket"], body["object_key"]) == (msg.bucket, msg.object_key)
    for field in ("md5", "sha256", "etag", "discovered_at", "stored_at", "remote_path",
                  "size"):
        assert body[field] is not None, field
    row = await file_states.get(pool, msg.file_id)
    assert row.status == "notified" and row.notified_at is not None
    [(event, details)] = await events(pool, msg.file_id)
    assert (event, details["message_id"]) == ("notified", str(msg.file_id))
    assert publisher.sent == publisher.delayed == []
    assert transitions(registry, "notified") == 1


async def test_a_publish_the_broker_refuses_schedules_a_retry(deps, pool, publisher,
                                                              registry, partner):
    """The exchange exists but no queue is bound: the mandatory publish comes back."""
    await deps.external.declare_exchange(RabbitExchange(
        deps.settings.notify_exchange, type=ExchangeType.DIRECT, durable=True))
    msg = await stored(pool, await partner())

    await notify_stored(msg, deps)

    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.attempts) == ("stored", 1)
    [(event, details)] = await events(pool, msg.file_id)
    assert event == "notify_failed" and details["status"] == "stored"
    [(stage, again, delay)] = publisher.delayed
    assert (stage, again) == (Stage.STORED, msg) and delay > 0
    assert failures(registry, "notify", "broker") == (1, 1)


async def test_a_batch_announces_each_file_on_its_own_and_a_bad_one_retries_alone(
        deps, pool, publisher, registry, partner, amqp_url):
    await declare_external(deps.external, deps.settings)
    server = await partner()
    files = [await stored(pool, server) for _ in range(6)]
    broken = await add_file(pool, server, status="stored", size=10, sha256="a" * 64,
                            md5="b" * 32, bucket="intake", object_key="k/broken",
                            etag=None, stored_at=datetime.now(UTC))  # no FileReady to make
    bad = FileStored(file_id=broken.id, bucket="intake", object_key="k/broken")
    batch = StoredBatch(batch_id=uuid.uuid4(), files=[*files[:3], bad, *files[3:]])

    await asyncio.gather(take_stored(batch, deps), take_stored(batch, deps))
    await take_stored(batch, deps)  # a redelivery once they are notified

    notices = await take_notifications(amqp_url, deps.settings.notify_queue)
    assert sorted(mid for mid, _ in notices) == sorted(str(f.file_id) for f in files)
    for file in files:
        assert (await file_states.get(pool, file.file_id)).status == "notified"
        [(event, details)] = await events(pool, file.file_id)
        assert (event, details["message_id"]) == ("notified", str(file.file_id))
    # The bad file waits for its retry in ``stored``: a redelivery of its batch tries it again.
    assert {event for event, _ in await events(pool, bad.file_id)} == {"notify_failed"}
    assert publisher.delayed and all((stage, again) == (Stage.STORED, bad)
                                     for stage, again, _ in publisher.delayed)
    assert transitions(registry, "notified") == 6
    counted, retried = failures(registry, "notify", "unexpected")  # a bug: no notice to make
    assert counted == retried and counted is not None and counted >= 1

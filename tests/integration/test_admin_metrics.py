"""The admin's pipeline gauges: what the database and the broker know, at ``/metrics``."""

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import aio_pika
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from contracts import Stage
from services.admin.main import create_app
from services.admin.pipeline_metrics.gauges import PipelineGauges
from services.admin.pipeline_metrics.queues import QueueDepths
from services.admin.settings import AdminSettings
from tests.integration.conftest import AdminCredentials, Db, create_server, insert_file

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient[Litestar]) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@contextmanager
def admin(settings: AdminSettings, token: str, *,
          max_age: float) -> Iterator[TestClient[Litestar]]:
    app = create_app(settings.model_copy(update={"metrics_max_age_s": max_age}))
    with TestClient(app=app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


@pytest.fixture
def uncached(admin_settings: AdminSettings,
             admin_credentials: AdminCredentials) -> Iterator[TestClient[Litestar]]:
    with admin(admin_settings, admin_credentials.token, max_age=0) as client:
        yield client


@pytest.fixture
def cached(admin_settings: AdminSettings,
           admin_credentials: AdminCredentials) -> Iterator[TestClient[Litestar]]:
    with admin(admin_settings, admin_credentials.token, max_age=300) as client:
        yield client


async def _dead_letter(amqp_url: str, queue: str, *, take_back: bool) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        if take_back:
            dlq = await channel.declare_queue(queue, passive=True)
            message = await dlq.get(no_ack=True, fail=False)
            assert message is not None
        else:
            await channel.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=queue)


def test_files_partners_and_queues_as_gauges(uncached: TestClient[Litestar], db: Db,
                                             admin_settings: AdminSettings,
                                             amqp_url: str) -> None:
    topology = admin_settings.topology
    dlq = topology.dead_letter_queue(Stage.STORED)
    server = create_server(uncached)
    before = scrape(uncached)
    insert_file(db, server["id"], status="downloaded",
                created_at=datetime.now(UTC) - timedelta(days=400))
    insert_file(db, server["id"], status="failed")
    last_ok = datetime(2026, 11, 30, 12, tzinfo=UTC)
    db.execute("UPDATE servers SET scan_failures = 3, last_scan_ok_at = %s WHERE id = %s",
               (last_ok, server["id"]))
    asyncio.run(_dead_letter(amqp_url, dlq, take_back=False))
    try:
        after = scrape(uncached)
    finally:
        asyncio.run(_dead_letter(amqp_url, dlq, take_back=True))

    for status in ("downloaded", "failed"):
        assert value(after, "intake_files", status=status) == (
            value(before, "intake_files", status=status) or 0) + 1
    assert value(after, "intake_files", status="missing") is not None  # every status shown
    age = value(after, "intake_oldest_unfinished_file_age_seconds", status="downloaded")
    assert age is not None and age > 399 * 86400
    assert value(after, "intake_oldest_unfinished_file_age_seconds", status="stored") is not None
    assert value(after, "intake_oldest_unfinished_file_age_seconds", status="failed") is None

    name = server["name"]
    assert value(before, "intake_server_consecutive_failures", server=name) == 0
    assert value(before, "intake_server_last_success_timestamp_seconds", server=name) is None
    assert value(after, "intake_server_consecutive_failures", server=name) == 3
    assert value(after, "intake_server_last_success_timestamp_seconds",
                 server=name) == last_ok.timestamp()

    depth = value(after, "intake_dlq_messages", queue=dlq, stage="stored")
    assert depth == (value(before, "intake_dlq_messages", queue=dlq, stage="stored") or 0) + 1
    work = topology.queue(Stage.DISCOVERED)
    assert value(after, "intake_queue_messages", queue=work, stage="discovered",
                 kind="work") is not None
    assert value(after, "intake_queue_messages", queue=topology.retry_queue(Stage.STORED),
                 stage="stored", kind="retry") is not None
    assert [labels for (metric, labels), v in after.items()
            if metric == "intake_build_info" and v == 1]


def test_the_gauges_are_computed_once_per_max_age(cached: TestClient[Litestar],
                                                  db: Db) -> None:
    server = create_server(cached)
    name = server["name"]
    first = scrape(cached)
    db.execute("UPDATE servers SET scan_failures = 7 WHERE id = %s", (server["id"],))
    again = scrape(cached)  # within metrics_max_age_s: the first scrape's numbers
    assert value(first, "intake_server_consecutive_failures", server=name) == 0
    assert value(again, "intake_server_consecutive_failures", server=name) == 0


async def test_a_source_that_fails_is_left_out_not_shown_stale(pool, admin_settings) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    broker_gone = QueueDepths(f"amqp://guest:guest@127.0.0.1:{port}/")
    gauges = PipelineGauges(pool, broker_gone, admin_settings.topology, max_age=0,
                            lost_after=admin_settings.spool_lost_after_seconds)

    await gauges.refresh()

    names = {family.name for family in gauges.collect()}
    assert {"intake_files", "intake_server_consecutive_failures"} <= names
    assert not names & {"intake_queue_messages", "intake_dlq_messages"}
    await broker_gone.close()

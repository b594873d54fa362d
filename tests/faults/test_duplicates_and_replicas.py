"""Duplicate messages and competing replicas: every file is processed exactly once."""

import asyncio
import signal
from collections import Counter

import aio_pika
import pytest

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage, Topology
from tests.harness import (
    HAPPY_PATH,
    Journal,
    drain_notifications,
    make_inbox,
    register_server,
    write_random,
)
from tests.processes import wait_for

pytestmark = pytest.mark.faults


async def _publish(amqp_url: str, topology: Topology, messages) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(topology.exchange)
        for stage, message in messages:
            await exchange.publish(
                aio_pika.Message(message.model_dump_json().encode(),
                                 content_type="application/json"),
                routing_key=topology.routing_key(stage),
            )


def test_every_message_delivered_twice_has_one_effect(start_pipeline, sftp_server,
                                                      database_url, admin_token, name,
                                                      amqp_url, settings_env):
    topology = Topology(settings_env["INTAKE_AMQP_PREFIX"])
    remote, local = make_inbox(sftp_server, name)
    write_random(local / "once.csv", 2048)
    pipeline = start_pipeline()
    downloader = pipeline["downloader"].process
    downloader.send_signal(signal.SIGSTOP)
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        [row] = journal.wait_until_all(1, "discovered", timeout=60)
        discovered = FileDiscovered(file_id=row["id"], server_id=server["id"],
                                    remote_path=f"{remote}/once.csv", size=2048)
        asyncio.run(_publish(amqp_url, topology, [(Stage.DISCOVERED, discovered)] * 3))
        downloader.send_signal(signal.SIGCONT)
        [row] = journal.wait_until_all(1, timeout=60)
        # Now replay every stage's message for the finished file.
        asyncio.run(_publish(amqp_url, topology, [
            (Stage.DISCOVERED, discovered),
            (Stage.DOWNLOADED, FileDownloaded(file_id=row["id"], size=2048,
                                              sha256=row["sha256"], md5="x")),
            (Stage.STORED, FileStored(file_id=row["id"], bucket=row["bucket"],
                                      object_key=row["object_key"])),
        ] * 2))
        wait_for(lambda: _queues_empty(amqp_url, topology), timeout=30,
                 what="the replayed messages consumed")
        assert [e for e, _ in journal.events(row["id"])] == HAPPY_PATH
    finally:
        downloader.send_signal(signal.SIGCONT)
        journal.close()
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    assert [mid for mid, _ in notices].count(str(row["id"])) == 1


def _queues_empty(amqp_url: str, topology: Topology) -> bool:
    async def depth() -> int:
        connection = await aio_pika.connect(amqp_url)
        async with connection:
            channel = await connection.channel()
            total = 0
            for stage in Stage:
                queue = await channel.declare_queue(topology.queue(stage), passive=True)
                total += queue.declaration_result.message_count
            return total

    return asyncio.run(depth()) == 0


def test_three_replicas_of_every_stage_process_each_file_once(
        start_pipeline_replicas, sftp_server, database_url, admin_token, name, amqp_url,
        settings_env):
    remote, local = make_inbox(sftp_server, name)
    digests = {f"r{i:03d}.dat": write_random(local / f"r{i:03d}.dat", 1000 + i)
               for i in range(300)}
    pipeline = start_pipeline_replicas({"discovery": 3, "downloader": 3, "uploader": 3,
                                        "notifier": 3})
    server = register_server(pipeline["admin"].url, sftp_server, name=name, remote_dir=remote,
                             token=admin_token)
    journal = Journal(database_url, server["id"])
    try:
        rows = journal.wait_until_all(300, timeout=300)
        assert {r["filename"]: r["sha256"] for r in rows} == digests
        for row in rows:
            assert [e for e, _ in journal.events(row["id"])] == HAPPY_PATH, row["filename"]
    finally:
        journal.close()
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    counts = Counter(mid for mid, _ in notices)
    assert all(counts[str(row["id"])] == 1 for row in rows)

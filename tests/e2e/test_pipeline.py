"""A file dropped on SFTP comes out in the bucket and on the notification queue.

Every service runs as its own process against real PostgreSQL, RabbitMQ, S3 and sshd.
"""

import asyncio
import hashlib
import json
import os
import time
import urllib.request
from pathlib import Path

import aio_pika
import psycopg
import pytest
from minio import Minio

from tests.processes import Pipeline, wait_for

pytestmark = pytest.mark.e2e

EXPECTED_EVENTS = ["discovered", "download_started", "downloaded", "upload_started", "stored",
                   "notified"]


def _write(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 1024 * 1024))
            out.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    path.chmod(0o644)
    return digest.hexdigest()


def _post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


async def _drain(amqp_url: str, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        messages = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


@pytest.fixture
def pipeline(settings_env, tmp_path):
    env = {**settings_env, "INTAKE_SCAN_TICK_SECONDS": "0.2"}
    pipeline = Pipeline(env, tmp_path / "logs")
    try:
        pipeline.start()
        yield pipeline
    finally:
        codes = pipeline.stop()
        print(pipeline.logs())
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"


def test_files_flow_from_sftp_to_bucket_and_queue(pipeline, sftp_server, s3, settings_env,
                                                  database_url, amqp_url):
    inbox = sftp_server.home / sftp_server.inbox
    files = {
        "large.bin": 50 * 1024 * 1024,
        "empty.dat": 0,
        "quarterly report – Ünïcödé ß.csv": 12_345,
        "small.txt": 10,
    }
    started = time.monotonic()
    digests = {name: _write(inbox / name, size) for name, size in files.items()}

    server = _post_json(f"{pipeline['admin'].url}/api/servers", {
        "name": "partner-e2e", "host": sftp_server.host, "port": sftp_server.port,
        "username": sftp_server.username, "password": sftp_server.password,
        "remote_dir": sftp_server.inbox, "poll_interval_s": 1, "min_file_age_s": 1,
        "host_key": sftp_server.host_key,
    })
    assert "password" not in json.dumps(server)

    with psycopg.connect(database_url, autocommit=True) as conn:
        def notified() -> list[tuple]:
            rows = conn.execute(
                "SELECT filename, status, sha256, size, bucket, object_key, id FROM files"
            ).fetchall()
            done = [r for r in rows if r[1] == "notified"]
            return rows if len(done) == len(files) else []

        rows = wait_for(notified, timeout=180, interval=0.3, what="all files notified")
        elapsed = time.monotonic() - started
        print(f"end-to-end: {len(files)} files in {elapsed:.1f}s")

        assert {r[0] for r in rows} == set(files)
        client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                       secure=False)
        for filename, _, sha256, size, bucket, key, file_id in rows:
            assert sha256 == digests[filename]
            assert size == files[filename]
            assert bucket == settings_env["INTAKE_S3_BUCKET"]
            assert key.endswith(f"/{file_id}/{filename}")
            response = client.get_object(bucket, key)
            try:
                stored = hashlib.sha256()
                for chunk in response.stream(1024 * 1024):
                    stored.update(chunk)
            finally:
                response.close()
                response.release_conn()
            assert stored.hexdigest() == digests[filename], filename

            events = [e for (e,) in conn.execute(
                "SELECT event FROM file_events WHERE file_id = %s ORDER BY id", (file_id,))]
            assert events == EXPECTED_EVENTS, (filename, events)

    notices = asyncio.run(_drain(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"]))
    bodies = [json.loads(m.body) for m in notices]
    assert sorted(b["filename"] for b in bodies) == sorted(files)
    for message, body in zip(notices, bodies, strict=True):
        assert message.message_id == body["file_id"]
        assert body["sha256"] == digests[body["filename"]]
        assert body["server"]["name"] == "partner-e2e"
        assert body["server"]["id"] == server["id"]
        for field in ("md5", "bucket", "object_key", "etag", "discovered_at", "stored_at",
                      "remote_path", "size"):
            assert body[field] is not None, field

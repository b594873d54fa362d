"""A file dropped on SFTP comes out in the bucket and on the notification queue.

Every service runs as its own process against real PostgreSQL, RabbitMQ, S3 and sshd.
"""

import json
import time

import pytest
from minio import Minio

from tests.harness import (
    HAPPY_PATH,
    Journal,
    drain_notifications,
    make_inbox,
    register_server,
    sha256_of_object,
    write_random,
)

pytestmark = pytest.mark.e2e

FILES = {
    "large.bin": 50 * 1024 * 1024,
    "empty.dat": 0,
    "quarterly report – Ünïcödé ß.csv": 12_345,
    "small.txt": 10,
}


def test_files_flow_from_sftp_to_bucket_and_queue(pipeline, sftp_server, s3, settings_env,
                                                  database_url, amqp_url, admin_token):
    remote, local = make_inbox(sftp_server, "e2e")
    started = time.monotonic()
    digests = {name: write_random(local / name, size) for name, size in FILES.items()}
    server = register_server(pipeline["admin"].url, sftp_server, name="partner-e2e",
                             remote_dir=remote, token=admin_token)
    assert sftp_server.password not in json.dumps(server)

    journal = Journal(database_url, server["id"])
    try:
        rows = journal.wait_until_all(len(FILES), timeout=180)
        print(f"end-to-end: {len(FILES)} files ({sum(FILES.values())} bytes) notified "
              f"{time.monotonic() - started:.1f}s after they were dropped")
        client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                       secure=False)
        assert {r["filename"] for r in rows} == set(FILES)
        for row in rows:
            name = row["filename"]
            assert row["sha256"] == digests[name]
            assert row["size"] == FILES[name]
            assert row["bucket"] == settings_env["INTAKE_S3_BUCKET"]
            assert row["object_key"].endswith(f"/{row['id']}/{name}")
            assert sha256_of_object(client, row["bucket"], row["object_key"]) == digests[name]
            assert [event for event, _ in journal.events(row["id"])] == HAPPY_PATH, name
    finally:
        journal.close()

    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    mine = [(mid, body) for mid, body in notices if body["server"]["id"] == server["id"]]
    assert sorted(body["filename"] for _, body in mine) == sorted(FILES)
    for message_id, body in mine:
        assert message_id == body["file_id"]
        assert body["sha256"] == digests[body["filename"]]
        assert body["server"]["name"] == "partner-e2e"
        for field in ("md5", "bucket", "object_key", "etag", "discovered_at", "stored_at",
                      "remote_path", "size"):
            assert body[field] is not None, field

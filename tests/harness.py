"""What end-to-end and fault tests do to a running pipeline: drop files, register servers,
watch the database, read the notification queue."""

import asyncio
import ctypes
import hashlib
import json
import mmap
import os
import urllib.request
from pathlib import Path
from typing import Any

import aio_pika
import psycopg
from minio import Minio

from infra.sftp.session import SftpTarget
from tests.processes import wait_for

HAPPY_PATH = ["discovered", "download_started", "downloaded", "upload_started", "stored",
              "notified"]


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes readable by the SFTP account; returns their sha256."""
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


def cached_bytes(path: Path) -> int:
    """How many of ``path``'s bytes are in the page cache now (``mincore`` of a mapping)."""
    size = path.stat().st_size
    if not size:
        return 0
    pages = -(-size // mmap.PAGESIZE)
    resident = (ctypes.c_ubyte * pages)()
    libc = ctypes.CDLL(None, use_errno=True)
    with path.open("rb") as file, \
            mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as mapped:
        start = ctypes.c_char.from_buffer(mapped)  # an export: released before the unmap
        failed = libc.mincore(ctypes.c_void_p(ctypes.addressof(start)),
                              ctypes.c_size_t(size), resident)
        del start
    if failed:
        raise OSError(ctypes.get_errno(), f"mincore of {path}")
    return sum(flag & 1 for flag in resident) * mmap.PAGESIZE


def api(url: str, method: str = "GET", body: dict | None = None,
        token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        url, method=method, headers=headers,
        data=json.dumps(body).encode() if body is not None else None,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def register_server(admin_url: str, sftp_server: Any, *, name: str, remote_dir: str,
                    port: int | None = None, token: str | None = None,
                    **overrides: Any) -> dict:
    body = {
        "name": name, "host": sftp_server.host, "port": port or sftp_server.port,
        "username": sftp_server.username, "password": sftp_server.password,
        "remote_dir": remote_dir, "poll_interval_s": 1, "min_file_age_s": 1,
        "host_key": sftp_server.host_key, **overrides,
    }
    return api(f"{admin_url}/api/servers", "POST", body, token)


def sftp_target(sftp_server: Any) -> SftpTarget:
    """How the services reach the test's SFTP account (password, pinned host key)."""
    return SftpTarget(sftp_server.host, sftp_server.port, sftp_server.username,
                      password=sftp_server.password, host_key=sftp_server.host_key)


def make_inbox(sftp_server: Any, name: str) -> tuple[str, Path]:
    """A directory of its own under the SFTP account's inbox: (remote path, local path)."""
    remote = f"{sftp_server.inbox}/{name}"
    local = sftp_server.home / remote
    local.mkdir(parents=True)
    local.chmod(0o755)
    return remote, local


class Journal:
    """Read-only view of one server's files and events."""

    def __init__(self, database_url: str, server_id: int) -> None:
        self._conn = psycopg.connect(database_url, autocommit=True)
        self.server_id = server_id

    def close(self) -> None:
        self._conn.close()

    def files(self) -> list[dict]:
        cur = self._conn.execute(
            "SELECT id, filename, status, sha256, size, bucket, object_key, error_message"
            " FROM files WHERE server_id = %s ORDER BY filename", (self.server_id,))
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def events(self, file_id: Any) -> list[tuple[str, dict]]:
        return self._conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s ORDER BY id", (file_id,)
        ).fetchall()

    def last_scan_at(self) -> Any:
        return self._conn.execute(
            "SELECT last_scan_at FROM servers WHERE id = %s", (self.server_id,)).fetchone()[0]

    def wait_for_next_scan(self, timeout: float = 30) -> None:
        """Block until discovery has finished one more scan of this server."""
        before = self.last_scan_at()
        wait_for(lambda: self.last_scan_at() not in (None, before), timeout=timeout,
                 what="the next scan")

    def wait_until_all(self, count: int, status: str = "notified", *,
                       timeout: float = 180) -> list[dict]:
        def settled() -> list[dict]:
            rows = self.files()
            done = [r for r in rows if r["status"] == status]
            return rows if len(done) == count else []

        return wait_for(settled, timeout=timeout, interval=0.3,
                        what=f"{count} files {status}")  # type: ignore[return-value]


async def take_notifications(amqp_url: str, queue_name: str) -> list[tuple[str | None, dict]]:
    """Take every FileReady waiting on the queue: (message_id, body)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        taken = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            taken.append((message.message_id, json.loads(message.body)))
        return taken


def drain_notifications(amqp_url: str, queue_name: str) -> list[tuple[str | None, dict]]:
    """``take_notifications`` for a synchronous test."""
    return asyncio.run(take_notifications(amqp_url, queue_name))


def assert_delivered_once(journal: Journal, row: dict, digest: str, s3: Any,
                          settings_env: dict[str, str], amqp_url: str) -> list[str]:
    """The file is in the bucket once, byte for byte, and was announced once; returns the
    names of its events."""
    assert row["sha256"] == digest
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key, secure=False)
    assert sha256_of_object(client, row["bucket"], row["object_key"]) == digest
    objects = list(client.list_objects(row["bucket"], prefix=row["object_key"].rsplit("/", 1)[0],
                                       recursive=True))
    assert len(objects) == 1
    names = [event for event, _ in journal.events(row["id"])]
    assert names.count("notified") == 1
    notices = drain_notifications(amqp_url, settings_env["INTAKE_NOTIFY_QUEUE"])
    assert [mid for mid, _ in notices].count(str(row["id"])) == 1
    return names


def sha256_of_object(minio_client: Any, bucket: str, key: str) -> str:
    response = minio_client.get_object(bucket, key)
    try:
        digest = hashlib.sha256()
        for chunk in response.stream(1024 * 1024):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        response.close()
        response.release_conn()

"""Uploads through an admin running as a process, as in production: no uploader and no
spool anywhere. A large upload keeps memory flat, a client gone mid-body leaves nothing
behind, and with a notifier running an upload is announced."""

import hashlib
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.settings import Settings
from infra.storage import ObjectStore
from tests.harness import drain_notifications, sha256_of_object
from tests.integration.conftest import AdminCredentials, Db
from tests.processes import ServiceProcess, wait_for

MiB = 1024 * 1024
BOUNDARY = "intake-test-boundary"


@pytest.fixture
def service_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The run's environment with a spool directory nobody may create."""
    return {**settings_env, "INTAKE_SPOOL_DIR": str(tmp_path / "no-spool")}


@pytest.fixture
def admin_process(service_env: dict[str, str], admin_credentials: AdminCredentials,
                  tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("admin", {**service_env, **admin_credentials.env()}, tmp_path)
    service.start().wait_ready()
    try:
        yield service
    finally:
        service.stop()
    assert not Path(service_env["INTAKE_SPOOL_DIR"]).exists()


@pytest.fixture
def objects(settings: Settings) -> ObjectStore:
    store = ObjectStore(settings)
    store.ensure_bucket()
    return store


def _head(name: str) -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()


TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


def _headers(token: str, length: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length)}


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match
    return int(match.group(1)) * 1024


def test_a_100_mib_upload_streams_into_the_bucket_with_flat_memory(
        admin_process: ServiceProcess, admin_credentials: AdminCredentials,
        objects: ObjectStore, db: Db) -> None:
    """The admin process's peak RSS grows by less than 50 MB for a 100 MiB upload."""
    size = 100 * MiB
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    head = _head("big.bin")

    def body() -> Iterator[bytes]:
        yield head
        for i in range(size // MiB):
            chunk = block[i:] + block[:i]  # every MiB different, no need for 100 MiB of random
            digest.update(chunk)
            yield chunk
        yield TAIL

    auth = {"Authorization": f"Bearer {admin_credentials.token}"}
    with httpx.Client(base_url=admin_process.url, timeout=120) as http:
        assert http.get("/api/stats", headers=auth).status_code == 200  # warm up
        assert admin_process.process is not None
        before = _peak_rss(admin_process.process.pid)
        started = time.monotonic()
        response = http.post("/api/files", content=body(), headers=_headers(
            admin_credentials.token, len(head) + size + len(TAIL)))
        seconds = time.monotonic() - started
    assert response.status_code == 202, response.text
    grown = _peak_rss(admin_process.process.pid) - before
    print(f"100 MiB upload into the bucket: {seconds:.1f}s ({size / 1e6 / seconds:.0f} MB/s), "
          f"peak RSS grew {grown / MiB:.1f} MiB")
    assert grown < 50 * 1000 * 1000
    assert response.json()["sha256"] == digest.hexdigest()
    assert response.json()["size"] == size
    row = db.execute("SELECT * FROM files WHERE id = %s", (response.json()["id"],)).fetchone()
    assert row is not None and row["status"] == "stored"
    assert sha256_of_object(objects.client, row["bucket"], row["object_key"]) == digest.hexdigest()


def test_a_client_gone_mid_body_leaves_no_upload_no_object_and_no_row(
        admin_process: ServiceProcess, admin_credentials: AdminCredentials,
        objects: ObjectStore, db: Db) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}.bin"
    head = _head(name)

    def open_upload() -> list[str]:
        return [u.key for u in objects.open_uploads("upload/") if u.key.endswith(f"/{name}")]

    request = ("POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(
        f"{key}: {value}\r\n" for key, value in _headers(
            admin_credentials.token, len(head) + 64 * MiB + len(TAIL)).items()) + "\r\n")
    with socket.create_connection(("127.0.0.1", admin_process.port)) as sock:
        sock.sendall(request.encode() + head)
        for _ in range(10):  # more than one part of 8 MiB: a multipart upload is open
            sock.sendall(os.urandom(MiB))
        wait_for(open_upload, timeout=30, what="the upload's first part")
    # The connection is closed with 54 MiB still to come.

    wait_for(lambda: not open_upload(), timeout=30, what="the upload to be aborted")
    listing = objects.client.list_objects(objects.bucket, prefix="upload/", recursive=True)
    assert not [o for o in listing if (o.object_name or "").endswith(f"/{name}")]
    assert db.execute("SELECT id FROM files WHERE filename = %s", (name,)).fetchall() == []


@pytest.fixture
def notifier_process(service_env: dict[str, str], amqp_prefix: str,
                     tmp_path: Path) -> Iterator[ServiceProcess]:
    """The notifier, announcing to an exchange and queue of this test's own."""
    name = f"{amqp_prefix}.up{uuid.uuid4().hex[:8]}"
    service = ServiceProcess("notifier", {**service_env, "INTAKE_NOTIFY_EXCHANGE": name,
                                          "INTAKE_NOTIFY_QUEUE": name}, tmp_path)
    service.start().wait_ready()
    try:
        yield service
    finally:
        service.stop()


def test_an_upload_with_no_uploader_anywhere_is_stored_and_notified(
        admin_process: ServiceProcess, notifier_process: ServiceProcess,
        admin_credentials: AdminCredentials, objects: ObjectStore, amqp_url: str,
        db: Db) -> None:
    data = os.urandom(2 * MiB + 5)
    with httpx.Client(base_url=admin_process.url, timeout=60) as http:
        response = http.post("/api/files", files={"file": ("for the notifier.csv", data)},
                             headers={"Authorization": f"Bearer {admin_credentials.token}"})
    assert response.status_code == 202, response.text
    file_id = response.json()["id"]

    def notified() -> dict | None:
        return db.execute("SELECT * FROM files WHERE id = %s AND status = 'notified'",
                          (file_id,)).fetchone()

    row = wait_for(notified, timeout=30, what="the upload to be notified")
    assert isinstance(row, dict)
    sha256 = hashlib.sha256(data).hexdigest()
    assert sha256_of_object(objects.client, row["bucket"], row["object_key"]) == sha256
    assert objects.client.get_object_tags(row["bucket"], row["object_key"]) == {
        "sha256": sha256, "md5": hashlib.md5(data).hexdigest()}
    events = db.execute("SELECT event FROM file_events WHERE file_id = %s ORDER BY id",
                        (file_id,)).fetchall()
    assert [e["event"] for e in events] == ["uploaded", "notified"]
    # Other tests' uploads waiting on the run's stored queue may be announced too.
    notices = drain_notifications(amqp_url, notifier_process.env["INTAKE_NOTIFY_QUEUE"])
    [ready] = [body for message_id, body in notices if message_id == file_id]
    assert ready["file_id"] == file_id
    assert ready["server"] == {"id": None, "name": "upload"}
    assert (ready["bucket"], ready["object_key"]) == (row["bucket"], row["object_key"])
    assert (ready["sha256"], ready["size"], ready["filename"]) == (
        sha256, len(data), "for the notifier.csv")

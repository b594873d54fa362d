"""``POST /api/files``: uploads streamed into the spool, recorded as downloaded, announced."""

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contracts import Stage
from services.admin.main import create_app
from services.admin.settings import AdminSettings
from tests.harness import cached_bytes
from tests.integration.conftest import AdminCredentials, Db, take_messages
from tests.processes import ServiceProcess

MiB = 1024 * 1024


def upload(client: TestClient[Litestar], name: str, data: bytes) -> httpx.Response:
    return client.post("/api/files", files={"file": (name, data, "application/octet-stream")})


def test_upload_is_recorded_and_announced(client: TestClient[Litestar], db: Db,
                                          admin_settings: AdminSettings) -> None:
    data = os.urandom(3 * MiB + 17)
    response = upload(client, "../../etc/report 2026.csv", data)
    assert response.status_code == 202, response.text
    body = response.json()
    file_id = UUID(body["id"])
    assert body["status"] == "downloaded"
    assert body["filename"] == "report 2026.csv"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["md5"] == hashlib.md5(data).hexdigest()

    assert (admin_settings.spool_dir / str(file_id)).read_bytes() == data
    assert not (admin_settings.spool_dir / f"{file_id}.part").exists()
    row = db.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()
    assert row is not None
    assert (row["source"], row["server_id"], row["status"]) == ("upload", None, "downloaded")
    assert (row["remote_path"], row["filename"]) == ("../../etc/report 2026.csv",
                                                     "report 2026.csv")
    assert (row["remote_mtime"], row["size"], row["sha256"]) == (0, len(data), body["sha256"])
    (event,) = db.execute("SELECT event, details FROM file_events WHERE file_id = %s",
                          (file_id,)).fetchall()
    assert event["event"] == "uploaded"
    assert event["details"]["size"] == len(data)
    assert event["details"]["seconds"] >= 0
    assert "mb_per_s" in event["details"]

    message_id = f"{file_id}:{Stage.DOWNLOADED}"
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.DOWNLOADED), {message_id})
    assert got[message_id] == {"version": 1, "file_id": str(file_id), "size": len(data),
                               "sha256": body["sha256"], "md5": body["md5"]}


def test_empty_and_awkward_names(client: TestClient[Litestar], db: Db) -> None:
    empty = upload(client, "empty.dat", b"")
    assert empty.status_code == 202, empty.text
    assert empty.json()["size"] == 0
    evil = upload(client, "<img src=x onerror=alert(1)>.txt", b"x")
    assert evil.json()["filename"] == "<img src=x onerror=alert(1)>.txt"
    # "/" separates directories: only the last part of such a name is kept.
    assert upload(client, "<script>alert(1)</script>.txt", b"x").json()["filename"] == (
        "script>.txt")
    windows = upload(client, "C:\\Users\\me\\Ünïcödé ß.txt", b"y")
    assert windows.json()["filename"] == "Ünïcödé ß.txt"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "words"),
    [
        ({"json": {"file": "x"}}, 415, "multipart/form-data"),
        ({"data": {"other": "x"}, "files": {"note": ("a.txt", b"hi")}}, 400, "field 'file'"),
        ({"files": {"file": ("..", b"hi")}}, 400, "file name"),
        ({"content": b"--xyz\r\nbroken", "headers": {
            "content-type": "multipart/form-data; boundary=xyz"}}, 400, "malformed"),
    ],
)
def test_bad_uploads_are_refused(client: TestClient[Litestar], admin_settings: AdminSettings,
                                 request_kwargs: dict, status: int, words: str) -> None:
    before = set(admin_settings.spool_dir.iterdir())
    response = client.post("/api/files", **request_kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert set(admin_settings.spool_dir.iterdir()) == before  # no .part left behind


def test_the_size_limit(admin_settings: AdminSettings, admin_credentials: AdminCredentials,
                        db: Db) -> None:
    small = admin_settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(app=create_app(small)) as client:
        client.headers["Authorization"] = f"Bearer {admin_credentials.token}"
        before = set(small.spool_dir.iterdir())
        assert upload(client, "ok.bin", b"x" * 1000).status_code == 202
        too_big = upload(client, "big.bin", b"x" * 1001)
        assert too_big.status_code == 413
        assert "limit of 1000 bytes" in too_big.json()["detail"]
        # Even when the client announces no length, the stream is cut off at the limit.
        body = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.bin\"\r\n\r\n"
                + b"y" * 5000 + b"\r\n--b--\r\n")
        streamed = client.post("/api/files", content=iter([body[:3000], body[3000:]]),
                               headers={"content-type": "multipart/form-data; boundary=b"})
        assert streamed.status_code == 413
        assert len(set(small.spool_dir.iterdir()) - before) == 1  # only ok.bin's copy


@pytest.fixture
def admin_process(settings_env: dict[str, str], admin_credentials: AdminCredentials,
                  tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("admin", {**settings_env, **admin_credentials.env()}, tmp_path)
    service.start().wait_ready()
    try:
        yield service
    finally:
        service.stop()


def _peak_rss(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match
    return int(match.group(1)) * 1024


def test_a_100_mib_upload_streams_with_flat_memory(admin_process: ServiceProcess,
                                                   admin_credentials: AdminCredentials,
                                                   db: Db) -> None:
    """The admin process's peak RSS grows by less than 50 MB for a 100 MiB upload."""
    size = 100 * MiB
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    boundary = "intake-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        for i in range(size // MiB):
            chunk = block[i:] + block[:i]  # every MiB different, no need for 100 MiB of random
            digest.update(chunk)
            yield chunk
        yield tail

    auth = {"Authorization": f"Bearer {admin_credentials.token}"}
    headers = {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(head) + size + len(tail))}
    with httpx.Client(base_url=admin_process.url, timeout=120) as http:
        assert http.get("/api/stats", headers=auth).status_code == 200  # warm up
        assert admin_process.process is not None
        before = _peak_rss(admin_process.process.pid)
        started = time.monotonic()
        response = http.post("/api/files", content=body(), headers=headers)
        seconds = time.monotonic() - started
    assert response.status_code == 202, response.text
    grown = _peak_rss(admin_process.process.pid) - before
    print(f"100 MiB upload: {seconds:.1f}s ({size / 1e6 / seconds:.0f} MB/s), "
          f"peak RSS grew {grown / MiB:.1f} MiB")
    assert grown < 50 * 1000 * 1000
    assert response.json()["sha256"] == digest.hexdigest()
    assert response.json()["size"] == size
    spooled = Path(admin_process.env["INTAKE_SPOOL_DIR"]) / response.json()["id"]
    assert cached_bytes(spooled) < size // 2  # released from the page cache as written

"""``POST /api/files``: uploads streamed into the bucket, recorded as stored, announced."""

import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contracts import Stage
from infra import file_states
from infra.storage import ObjectStore
from services.admin.main import create_app
from services.admin.settings import AdminSettings
from services.admin.uploads.storing import ObjectSink
from services.admin.uploads.sweeping import abort_abandoned
from tests.harness import sha256_of_object
from tests.integration.conftest import AdminCredentials, Db, take_messages

MiB = 1024 * 1024


def upload(client: TestClient[Litestar], name: str, data: bytes) -> httpx.Response:
    return client.post("/api/files", files={"file": (name, data, "application/octet-stream")})


@pytest.fixture
def objects(admin_settings: AdminSettings) -> ObjectStore:
    store = ObjectStore(admin_settings)
    store.ensure_bucket()
    return store


def open_uploads(objects: ObjectStore) -> set[str]:
    """Keys of the admin's multipart uploads not completed or aborted."""
    return {u.key for u in objects.open_uploads("upload/")}


def uploaded_keys(objects: ObjectStore) -> set[str]:
    listing = objects.client.list_objects(objects.bucket, prefix="upload/", recursive=True)
    return {o.object_name for o in listing if o.object_name}


def uploads_recorded(db: Db) -> int:
    row = db.execute("SELECT count(*) AS n FROM files WHERE source = 'upload'").fetchone()
    assert row is not None
    return int(row["n"])


@pytest.fixture
def app_with(admin_settings: AdminSettings,
             admin_credentials: AdminCredentials) -> Iterator[object]:
    """``app_with(**settings)``: an API client of an admin with those settings changed."""
    clients: list[TestClient[Litestar]] = []

    def start(**update: object) -> TestClient[Litestar]:
        client = TestClient(app=create_app(admin_settings.model_copy(update=update)))
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {admin_credentials.token}"
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def test_an_upload_is_stored_recorded_and_announced(client: TestClient[Litestar], db: Db,
                                                    admin_settings: AdminSettings,
                                                    objects: ObjectStore) -> None:
    data = os.urandom(3 * MiB + 17)
    before = datetime.now(UTC)
    response = upload(client, "../../etc/report 2026.csv", data)
    assert response.status_code == 202, response.text
    body = response.json()
    file_id = UUID(body["id"])
    assert body["status"] == "stored"
    assert body["filename"] == "report 2026.csv"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["md5"] == hashlib.md5(data).hexdigest()

    row = db.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()
    assert row is not None
    assert (row["source"], row["server_id"], row["status"]) == ("upload", None, "stored")
    assert (row["remote_path"], row["filename"]) == ("../../etc/report 2026.csv",
                                                     "report 2026.csv")
    assert (row["remote_mtime"], row["size"], row["sha256"]) == (0, len(data), body["sha256"])
    assert row["bucket"] == admin_settings.s3_bucket
    assert row["object_key"] == (f"upload/{row['created_at'].astimezone(UTC):%Y/%m/%d}/"
                                 f"{file_id}/report 2026.csv")
    assert row["etag"] == body["md5"]  # one request: the ETag is the MD5
    assert before <= row["created_at"] <= row["stored_at"]

    assert sha256_of_object(objects.client, row["bucket"], row["object_key"]) == body["sha256"]
    assert objects.client.get_object_tags(row["bucket"], row["object_key"]) == {
        "sha256": body["sha256"], "md5": body["md5"]}
    stat = objects.client.stat_object(row["bucket"], row["object_key"])
    assert stat.metadata["x-amz-meta-sha256"] == body["sha256"]

    (event,) = db.execute("SELECT event, details FROM file_events WHERE file_id = %s",
                          (file_id,)).fetchall()
    assert event["event"] == "uploaded"
    assert event["details"]["size"] == len(data)
    assert event["details"]["seconds"] >= 0
    assert event["details"]["parts"] == 1
    assert event["details"]["object_key"] == row["object_key"]
    assert "mb_per_s" in event["details"]

    message_id = f"{file_id}:{Stage.STORED}"
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.STORED), {message_id})
    assert got[message_id] == {"version": 1, "file_id": str(file_id),
                               "bucket": row["bucket"], "object_key": row["object_key"]}


def test_an_upload_larger_than_a_part_is_stored_in_parts(app_with, db: Db,
                                                         objects: ObjectStore) -> None:
    client = app_with(upload_part_bytes=5 * MiB)
    data = os.urandom(12 * MiB + 3)  # parts of 5, 5 and 2 MiB + 3 bytes

    response = upload(client, "parts.bin", data)

    assert response.status_code == 202, response.text
    body = response.json()
    row = db.execute("SELECT * FROM files WHERE id = %s", (body["id"],)).fetchone()
    assert row is not None and row["status"] == "stored"
    assert row["etag"].endswith("-3")
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert sha256_of_object(objects.client, row["bucket"], row["object_key"]) == body["sha256"]
    assert objects.client.get_object_tags(row["bucket"], row["object_key"]) == {
        "sha256": body["sha256"], "md5": hashlib.md5(data).hexdigest()}
    details = db.execute("SELECT details FROM file_events WHERE file_id = %s",
                         (body["id"],)).fetchone()
    assert details is not None and details["details"]["parts"] == 3
    assert row["object_key"] not in open_uploads(objects)


def test_an_upload_creates_a_missing_bucket(app_with, admin_settings: AdminSettings,
                                            db: Db) -> None:
    """With no uploader running anywhere, nothing else may have made it."""
    bucket = f"fresh-{uuid4().hex[:12]}"
    client = app_with(s3_bucket=bucket)

    response = upload(client, "first.txt", b"the first file")

    assert response.status_code == 202, response.text
    fresh = ObjectStore(admin_settings.model_copy(update={"s3_bucket": bucket}))
    [stored] = fresh.client.list_objects(bucket, recursive=True)
    assert stored.object_name is not None
    assert stored.object_name.startswith("upload/")
    assert stored.object_name.endswith(f"/{response.json()['id']}/first.txt")


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
def test_bad_uploads_are_refused(client: TestClient[Litestar], db: Db, objects: ObjectStore,
                                 request_kwargs: dict, status: int, words: str) -> None:
    recorded, stored = uploads_recorded(db), uploaded_keys(objects)
    response = client.post("/api/files", **request_kwargs)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert (uploads_recorded(db), uploaded_keys(objects)) == (recorded, stored)


def test_the_size_limit(app_with, db: Db, objects: ObjectStore) -> None:
    client = app_with(max_upload_bytes=1000)
    recorded, stored = uploads_recorded(db), uploaded_keys(objects)
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
    assert uploads_recorded(db) == recorded + 1  # only ok.bin
    assert len(uploaded_keys(objects) - stored) == 1


async def test_an_upload_dropped_after_its_first_parts_leaves_nothing(
        objects: ObjectStore) -> None:
    """What a refusal or a client gone mid-body does once parts are in the bucket (the test
    client hands the app a body in one piece: tests/integration/test_admin_upload_process.py
    cuts one off mid-way)."""
    key = f"upload/test/{uuid4()}/dropped.bin"
    sink = ObjectSink(objects, key, part_size=5 * MiB)
    for _ in range(12):
        await sink.write(os.urandom(MiB))
    assert key in open_uploads(objects)  # parts 1 and 2 are stored

    await sink.abort()

    assert key not in open_uploads(objects)
    assert key not in uploaded_keys(objects)


async def test_uploads_left_open_by_a_dead_admin_are_aborted_once_old(
        objects: ObjectStore) -> None:
    key = f"upload/test/{uuid4()}/orphan.bin"
    upload_id = objects.start_upload(key, checksums=None)  # as an admin killed mid-upload
    objects.put_part(key, upload_id, 1, os.urandom(5 * MiB))

    assert await abort_abandoned(objects, older_than=timedelta(hours=1)) == 0
    assert key in open_uploads(objects)  # young: perhaps still under way

    assert await abort_abandoned(objects, older_than=timedelta(seconds=-60)) >= 1
    assert key not in open_uploads(objects)


def test_a_stored_upload_that_cannot_be_recorded_is_removed(
        client: TestClient[Litestar], objects: ObjectStore,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stored = uploaded_keys(objects)

    async def database_gone(*args: object, **kwargs: object) -> None:
        raise psycopg.OperationalError("the database went away")

    monkeypatch.setattr(file_states, "record_upload", database_gone)
    response = upload(client, "unrecorded.bin", b"stored, then not recorded")

    assert response.status_code == 500
    assert uploaded_keys(objects) == stored


def test_storage_out_of_reach_is_a_503_that_keeps_nothing(app_with, db: Db,
                                                          admin_settings: AdminSettings,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    client = app_with(s3_endpoint="127.0.0.1:9")  # the discard port: nothing listens
    recorded = uploads_recorded(db)
    with caplog.at_level(logging.WARNING, logger="intake.admin"):
        response = upload(client, "unlucky.bin", b"z" * 1000)
    assert response.status_code == 503, response.text
    assert "try again later" in response.json()["detail"]
    assert uploads_recorded(db) == recorded
    secret = admin_settings.s3_secret_key.get_secret_value()
    assert secret not in response.text and secret not in caplog.text
    assert "Traceback" not in response.text

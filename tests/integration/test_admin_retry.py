"""Retrying failed and missing files restarts each from its last good state, and says so on
the real RabbitMQ queue of that stage."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contracts import Stage
from services.admin.settings import AdminSettings
from tests.integration.conftest import (
    Db,
    create_server,
    insert_file,
    live_spool,
    take_messages,
)


def retried_events(db: Db, file_id: object) -> list[dict]:
    cur = db.execute("SELECT details FROM file_events WHERE file_id = %s AND event = 'retried'"
                     " ORDER BY id", (file_id,))
    return [row["details"] for row in cur.fetchall()]


def row(db: Db, file_id: object) -> dict:
    found = db.execute("SELECT * FROM files WHERE id = %s", (file_id,)).fetchone()
    assert found is not None
    return found


@pytest.mark.parametrize("from_status", ["failed", "missing"])
def test_retry_from_stored_object(client: TestClient[Litestar], db: Db, from_status: str,
                                  admin_settings: AdminSettings) -> None:
    server = create_server(client)
    file_id = insert_file(db, server["id"], status=from_status, attempts=5,
                          error_message="broker down", sha256="a" * 64, md5="b" * 32,
                          bucket="intake", object_key=f"k/{uuid4()}", etag="e",
                          stored_at=datetime.now(UTC))
    response = client.post(f"/api/files/{file_id}/retry")
    assert response.status_code == 200, response.text
    assert response.json() == {"id": str(file_id), "from_status": from_status,
                               "to_status": "stored", "published": True}
    after = row(db, file_id)
    assert (after["status"], after["attempts"], after["error_message"]) == ("stored", 0, None)
    assert retried_events(db, file_id) == [
        {"from_status": from_status, "to_status": "stored", "by": "operator"}]

    message_id = f"{file_id}:{Stage.STORED}"
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.STORED), {message_id})
    assert got[message_id]["file_id"] == str(file_id)
    assert got[message_id]["object_key"] == after["object_key"]


def test_retry_from_the_spool_copy(client: TestClient[Litestar], db: Db,
                                   admin_settings: AdminSettings) -> None:
    """A copy in a spool that shows life is stored again by that spool's uploader."""
    server = create_server(client)
    spool = live_spool(db, admin_settings)
    file_id = insert_file(db, server["id"], status="failed", size=5, sha256="c" * 64,
                          md5="d" * 32, attempts=5, error_message="S3 down", spool_id=spool,
                          spool_losses=2)
    response = client.post(f"/api/files/{file_id}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["to_status"] == "downloaded"
    assert (row(db, file_id)["status"], row(db, file_id)["spool_losses"]) == ("downloaded", 0)

    message_id = f"{file_id}:{Stage.DOWNLOADED}"
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.DOWNLOADED, spool), {message_id})
    assert got[message_id] == {"version": 1, "file_id": str(file_id), "size": 5,
                               "sha256": "c" * 64, "md5": "d" * 32, "spool": spool}


def test_a_copy_in_a_lost_spool_is_fetched_from_the_server_again(
        client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    db.execute("INSERT INTO spools (id, hostname, seen_at) VALUES (%s, 'gone', now() - %s)",
               (spool := f"dead-{uuid4().hex[:8]}", timedelta(hours=1)))
    file_id = insert_file(db, server["id"], status="failed", sha256="c" * 64, md5="d" * 32,
                          spool_id=spool)
    response = client.post(f"/api/files/{file_id}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["to_status"] == "discovered"


def test_retry_from_the_server(client: TestClient[Litestar], db: Db,
                               admin_settings: AdminSettings) -> None:
    server = create_server(client)
    # Hashed once, but the spool copy is gone: only the server has the bytes now.
    file_id = insert_file(db, server["id"], status="failed", sha256="e" * 64, md5="f" * 32)
    response = client.post(f"/api/files/{file_id}/retry")
    assert response.json()["to_status"] == "discovered"

    message_id = f"{file_id}:{Stage.DISCOVERED}"
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.DISCOVERED), {message_id})
    assert got[message_id]["server_id"] == server["id"]
    assert got[message_id]["remote_path"] == row(db, file_id)["remote_path"]


def test_only_failed_or_missing_files_are_retried(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    for status in ("discovered", "downloading", "stored", "notified"):
        file_id = insert_file(db, server["id"], status=status)
        response = client.post(f"/api/files/{file_id}/retry")
        assert response.status_code == 409, status
        assert "only failed or missing files" in response.json()["detail"]
        assert row(db, file_id)["status"] == status
    assert client.post(f"/api/files/{uuid4()}/retry").status_code == 404

    # An upload has no server to fetch from again: without its spool copy it cannot restart.
    upload = insert_file(db, None, status="failed", sha256="1" * 64, md5="2" * 32)
    response = client.post(f"/api/files/{upload}/retry")
    assert response.status_code == 409
    assert "upload it again" in response.json()["detail"]

    # A second click finds the file already moving.
    failed = insert_file(db, server["id"], status="failed")
    assert client.post(f"/api/files/{failed}/retry").status_code == 200
    assert client.post(f"/api/files/{failed}/retry").status_code == 409
    assert len(retried_events(db, failed)) == 1


def test_retry_every_failed_file_of_a_server(client: TestClient[Litestar], db: Db,
                                            admin_settings: AdminSettings) -> None:
    server, other = create_server(client), create_server(client)
    failed = [insert_file(db, server["id"], status=s) for s in ("failed", "failed", "missing")]
    untouched = [insert_file(db, server["id"], status="notified"),
                 insert_file(db, other["id"], status="failed")]

    response = client.post(f"/api/servers/{server['id']}/retry-failed")
    assert response.status_code == 200, response.text
    assert response.json() == {"server_id": server["id"], "retried": 3}
    assert {row(db, f)["status"] for f in failed} == {"discovered"}
    assert [row(db, f)["status"] for f in untouched] == ["notified", "failed"]

    wanted = {f"{f}:{Stage.DISCOVERED}" for f in failed}
    got = take_messages(admin_settings.amqp_url.get_secret_value(),
                        admin_settings.topology.queue(Stage.DISCOVERED), wanted)
    assert set(got) == wanted

    again = client.post(f"/api/servers/{server['id']}/retry-failed")
    assert again.json()["retried"] == 0
    assert client.post("/api/servers/999999999/retry-failed").status_code == 404

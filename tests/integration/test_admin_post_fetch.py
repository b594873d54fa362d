"""A server's post-fetch action through ``/api/servers`` and the console's forms: its default,
a round trip, and the settings refused alone or together, each naming its field."""

from litestar import Litestar
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from tests.integration.conftest import (
    Console,
    Db,
    create_server,
    error_keys,
    insert_file,
    server_body,
)
from tests.integration.test_admin_pages import form

SCANNED = "lies inside the scanned directory"


def test_a_new_server_keeps_its_files_and_the_action_round_trips(
        client: TestClient[Litestar]) -> None:
    created = create_server(client)
    assert (created["post_fetch"], created["archive_dir"]) == ("keep", None)

    moving = client.patch(f"/api/servers/{created['id']}",
                          json={"post_fetch": "move", "archive_dir": "archive/%Y/%m/%d"})
    assert moving.status_code == 200, moving.text
    assert client.get(f"/api/servers/{created['id']}").json() | {"updated_at": None} == (
        created | {"post_fetch": "move", "archive_dir": "archive/%Y/%m/%d",
                   "updated_at": None})

    deleting = client.patch(f"/api/servers/{created['id']}",
                            json={"post_fetch": "delete", "archive_dir": None})
    assert deleting.status_code == 200, deleting.text
    assert (deleting.json()["post_fetch"], deleting.json()["archive_dir"]) == ("delete", None)


def test_a_bad_action_or_archive_directory_is_refused_and_says_why(
        client: TestClient[Litestar]) -> None:
    server = create_server(client)
    for archive_dir, reason in [
        ("../elsewhere", "must not contain '..'"),
        ("archive/%Y/../x", "must not contain '..'"),
        ("archive/%y", "'%y' is no placeholder"),
        ("archive/100%", "'%' is no placeholder"),
        (".", "other than the scanned one"),
        ("archive/\x01", "control characters"),
    ]:
        refused = client.patch(f"/api/servers/{server['id']}",
                               json={"post_fetch": "move", "archive_dir": archive_dir})
        assert refused.status_code == 400, archive_dir
        assert reason in refused.text, (archive_dir, refused.text)
    refused = client.patch(f"/api/servers/{server['id']}", json={"post_fetch": "remove"})
    assert error_keys(refused) == {"post_fetch"}
    assert client.get(f"/api/servers/{server['id']}").json()["post_fetch"] == "keep"


def test_settings_that_cannot_go_together_name_the_archive_directory(
        client: TestClient[Litestar]) -> None:
    nowhere = client.post("/api/servers", json={**server_body(), "post_fetch": "move"})
    assert nowhere.status_code == 422, nowhere.text
    assert nowhere.json()["extra"] == [{"key": "archive_dir", "message": (
        "give an archive directory: 'move' puts the stored files there")}]

    inside = client.post("/api/servers", json={**server_body(), "post_fetch": "move",
                                               "archive_dir": "done", "recursive": True})
    assert inside.status_code == 422
    assert SCANNED in inside.json()["extra"][0]["message"]

    outside = create_server(client, post_fetch="move", archive_dir="/archive/%Y",
                            recursive=True)
    assert outside["archive_dir"] == "/archive/%Y"

    relative = create_server(client, post_fetch="move", archive_dir="done")
    turned_recursive = client.patch(f"/api/servers/{relative['id']}", json={"recursive": True})
    assert turned_recursive.status_code == 422
    assert SCANNED in turned_recursive.text
    emptied = client.patch(f"/api/servers/{relative['id']}", json={"archive_dir": None})
    assert emptied.status_code == 422
    assert client.get(f"/api/servers/{relative['id']}").json()["archive_dir"] == "done"


def test_the_form_shows_and_edits_the_action(client: TestClient[Litestar],
                                             console: Console) -> None:
    new = console.get("/servers/new").text
    assert '<option value="keep" selected>' in new  # the column's default

    body = form(password="p", post_fetch="move", archive_dir="archive/%Y/%m")
    assert console.post("/servers/new", htmx=False, data=body).status_code == 303
    server = next(s for s in client.get("/api/servers").json() if s["name"] == body["name"])
    assert (server["post_fetch"], server["archive_dir"]) == ("move", "archive/%Y/%m")
    edit = console.get(f"/servers/{server['id']}/edit").text
    assert '<option value="move" selected>' in edit
    assert 'value="archive/%Y/%m"' in edit
    assert "moved to <span class=\"mono\">archive/%Y/%m</span> once stored" in (
        console.get("/servers").text)

    clash = console.post(f"/servers/{server['id']}/edit", htmx=False,
                         data=form(name=body["name"], post_fetch="move", archive_dir="",
                                   recursive="on"))
    assert clash.status_code == 400
    assert "archive_dir: give an archive directory" in clash.text
    inside = console.post(f"/servers/{server['id']}/edit", htmx=False,
                          data=form(name=body["name"], post_fetch="move",
                                    archive_dir="archive", recursive="on"))
    assert inside.status_code == 400
    assert f"archive_dir: a relative archive directory {SCANNED}" in inside.text
    bad = console.post(f"/servers/{server['id']}/edit", htmx=False,
                       data=form(name=body["name"], post_fetch="move", archive_dir="../up"))
    assert bad.status_code == 400
    assert "archive_dir: must not contain &#39;..&#39;" in bad.text

    kept = console.post(f"/servers/{server['id']}/edit", htmx=False,
                        data=form(name=body["name"], post_fetch="delete", archive_dir=""))
    assert kept.status_code == 303
    changed = client.get(f"/api/servers/{server['id']}").json()
    assert (changed["post_fetch"], changed["archive_dir"]) == ("delete", None)
    # A form without the select (an older client) leaves the action as it is.
    assert console.post(f"/servers/{server['id']}/edit", htmx=False,
                        data=form(name=body["name"])).status_code == 303
    assert client.get(f"/api/servers/{server['id']}").json()["post_fetch"] == "delete"


def test_a_file_shows_its_action_and_the_timeline_where_it_went(
        client: TestClient[Litestar], console: Console, db: Db) -> None:
    server = create_server(client, post_fetch="move", archive_dir="done")
    file_id = insert_file(db, server["id"], status="notified", remote_action="move",
                          remote_action_state="done")
    db.execute("INSERT INTO file_events (file_id, event, details) VALUES"
               " (%s, 'remote_moved', %s)",
               (file_id, Jsonb({"path": "/in/data.csv", "to": "/in/done/data-1.csv",
                                "attempt": 1})))
    kept = insert_file(db, server["id"], status="notified")

    shown = client.get(f"/api/files/{file_id}").json()
    assert (shown["remote_action"], shown["remote_action_state"]) == ("move", "done")
    assert [e["event"] for e in shown["events"]] == ["remote_moved"]
    assert client.get(f"/api/files/{kept}").json()["remote_action"] is None
    page = console.get(f"/files/{file_id}").text
    assert "moved to the archive once stored: done" in page
    assert "/in/done/data-1.csv" in page
    assert "On the server" not in console.get(f"/files/{kept}").text


def test_an_action_given_up_is_retried_by_an_operator(client: TestClient[Litestar],
                                                      console: Console, db: Db) -> None:
    server = create_server(client, post_fetch="delete")
    file_id = insert_file(db, server["id"], status="notified", remote_action="delete",
                          remote_action_state="failed", remote_action_attempts=10)
    assert "Retry on the server" in console.get(f"/files/{file_id}").text

    retried = client.post(f"/api/files/{file_id}/remote-action/retry")

    assert retried.status_code == 200, retried.text
    assert retried.json()["remote_action_state"] == "pending"
    [event] = retried.json()["events"]
    assert (event["event"], list(event["details"])) == ("remote_action_retried", ["by"])
    row = db.execute("SELECT remote_action_attempts, remote_action_due_at <= now() AS due"
                     " FROM files WHERE id = %s", (file_id,)).fetchone()
    assert row == {"remote_action_attempts": 0, "due": True}
    again = client.post(f"/api/files/{file_id}/remote-action/retry")
    assert again.status_code == 409
    assert "its action on the server is pending, not given up" in again.text
    kept = insert_file(db, server["id"], status="notified")
    assert "no action to retry" in client.post(f"/api/files/{kept}/remote-action/retry").text
    missing = "00000000-0000-0000-0000-000000000001"
    assert client.post(f"/api/files/{missing}/remote-action/retry").status_code == 404

    db.execute("UPDATE files SET remote_action_state = 'failed' WHERE id = %s", (file_id,))
    page = console.post(f"/files/{file_id}/remote-action/retry")
    assert page.status_code == 200
    assert "due again: discovery tries it at its next scan" in page.text
    assert "Retry on the server" not in page.text
    refused = console.post(f"/files/{file_id}/remote-action/retry")
    assert refused.status_code == 409
    assert "not given up" in refused.text

"""``/api/files``: newest-first keyset pages, filters, and one file with its journal."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.types.json import Jsonb

from tests.integration.conftest import Console, Db, create_server, error_keys, insert_file


def test_files_pages_newest_first(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = [
        insert_file(db, server["id"], filename=f"f{i}.csv", created_at=base + timedelta(i))
        for i in range(5)
    ]
    # Two files created in the same instant: the id breaks the tie, none is skipped.
    ids += [insert_file(db, server["id"], created_at=base - timedelta(days=1)) for _ in "ab"]
    expected = [str(i) for i in ids[4::-1]] + sorted((str(i) for i in ids[5:]), reverse=True)

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"server_id": server["id"], "limit": 3}
        if cursor:
            params["cursor"] = cursor
        response = client.get("/api/files", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == expected
    first = client.get("/api/files", params={"server_id": server["id"], "limit": 1})
    item = first.json()["items"][0]
    assert item["server_name"] == server["name"]
    assert item["filename"] == "f4.csv"
    assert item["status"] == "discovered"


def test_files_filter_by_status_and_server(client: TestClient[Litestar], db: Db) -> None:
    one, two = create_server(client), create_server(client)
    failed = insert_file(db, one["id"], status="failed")
    insert_file(db, one["id"], status="notified")
    insert_file(db, two["id"], status="failed")

    response = client.get("/api/files", params={"status": "failed", "server_id": one["id"]})
    assert [item["id"] for item in response.json()["items"]] == [str(failed)]
    response = client.get("/api/files", params={"server_id": two["id"]})
    assert [item["server_id"] for item in response.json()["items"]] == [two["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"server_id": "x"}, "server_id"),
    ],
)
def test_files_reject_bad_parameters(
    client: TestClient[Litestar], params: dict[str, Any], field: str
) -> None:
    assert field in error_keys(client.get("/api/files", params=params))


def test_file_detail_with_events(client: TestClient[Litestar], console: Console,
                                 db: Db) -> None:
    server = create_server(client)
    file_id = insert_file(db, server["id"], status="stored")
    for event, details in [
        ("discovered", {"size": 1234}),
        ("downloading", {"attempt": 1}),
        ("downloaded", {"mb_per_s": 12.5}),
        ("stored", {"object_key": "a/b"}),
    ]:
        db.execute(
            "INSERT INTO file_events (file_id, event, details) VALUES (%s, %s, %s)",
            (file_id, event, Jsonb(details)),
        )

    response = client.get(f"/api/files/{file_id}")
    assert response.status_code == 200
    detail = response.json()
    assert detail["id"] == str(file_id)
    assert detail["server_name"] == server["name"]
    assert detail["status"] == "stored"
    assert [e["event"] for e in detail["events"]] == [
        "discovered",
        "downloading",
        "downloaded",
        "stored",
    ]
    assert detail["events"][2]["details"] == {"mb_per_s": 12.5}

    unknown_id = uuid4()
    unknown = client.get(f"/api/files/{unknown_id}")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, f"no file with id {unknown_id}")

    page = console.get(f"/files/{file_id}")
    assert page.status_code == 200
    assert page.text.index("downloading") < page.text.index("downloaded")
    assert "mb_per_s" in page.text
    assert console.get(f"/files/{uuid4()}").status_code == 404



def test_a_path_no_route_matches_says_so(client: TestClient[Litestar]) -> None:
    for method, path in [("GET", "/api/files/not-a-uuid"), ("POST", "/api/files/42/retry"),
                         ("GET", "/api/servers/abc"), ("GET", "/api/nothing-here")]:
        response = client.request(method, path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json"), path
        assert response.json() == {"status_code": 404, "detail": (
            f"no API operation answers {method} {path}: check the path and the form of its id "
            "(a file id is a UUID, a server id a number); /schema lists every operation")}


def all_pages(client: TestClient[Litestar], **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        response = client.get("/api/files", params={**params, **({"cursor": cursor} if cursor
                                                                 else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_pages_stay_consistent_while_files_arrive(client: TestClient[Litestar], db: Db) -> None:
    """New files land before the first page; the pages being walked neither skip nor repeat."""
    server = create_server(client)
    base = datetime.now(UTC) - timedelta(minutes=30)
    existing = [insert_file(db, server["id"], created_at=base + timedelta(seconds=i))
                for i in range(10)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"server_id": server["id"], "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/files", params=params).json()
        seen += [item["id"] for item in page["items"]]
        insert_file(db, server["id"])  # arrives while the client pages through
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(i) for i in reversed(existing)]
    assert len(all_pages(client, server_id=server["id"], limit=4)) == len(existing) + 4


def test_filter_by_name_part_and_time(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    now = datetime.now(UTC)
    names = {
        "Invoice_2026-11.CSV": now - timedelta(days=3),
        "invoice-2026-10.csv": now - timedelta(days=40),
        "100%_done.txt": now - timedelta(hours=1),
        "100 percent done.txt": now - timedelta(hours=2),
        "back\\slash.txt": now,
    }
    ids = {name: str(insert_file(db, server["id"], filename=name, created_at=at))
           for name, at in names.items()}

    def names_for(**params: Any) -> set[str]:
        found = all_pages(client, server_id=server["id"], **params)
        return {name for name, file_id in ids.items() if file_id in found}

    assert names_for(q="invoice") == {"Invoice_2026-11.CSV", "invoice-2026-10.csv"}
    # % and _ are literal characters, not wildcards.
    assert names_for(q="100%_") == {"100%_done.txt"}
    assert names_for(q="e_2") == {"Invoice_2026-11.CSV"}
    assert names_for(q="k\\s") == {"back\\slash.txt"}
    assert names_for(q="  ") == set(names)
    week_ago = (now - timedelta(days=7)).isoformat()
    assert names_for(since=week_ago) == set(names) - {"invoice-2026-10.csv"}
    assert names_for(until=week_ago) == {"invoice-2026-10.csv"}
    assert names_for(q="invoice", since=(now - timedelta(days=50)).isoformat(),
                     until=(now - timedelta(days=30)).isoformat()) == {"invoice-2026-10.csv"}
    # Without an offset the time is UTC.
    naive = (now - timedelta(days=7)).replace(tzinfo=None).isoformat()
    assert names_for(since=naive) == set(names) - {"invoice-2026-10.csv"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),  # found by schemathesis: PostgreSQL text refuses NUL
    ],
)
def test_bad_filters_name_the_field(client: TestClient[Litestar], params: dict[str, Any],
                                    field: str) -> None:
    assert field in error_keys(client.get("/api/files", params=params))

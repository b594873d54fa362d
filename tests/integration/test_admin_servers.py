"""``/api/servers``: create, read, change, delete, scan — and the checks on every field."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.conftest import (
    Db,
    create_server,
    error_keys,
    insert_file,
    server_body,
    ssh_keypair,
)


def test_server_lifecycle(client: TestClient[Litestar]) -> None:
    created = create_server(client, port=2223, password="s3cret", pattern="*.csv")
    assert created["port"] == 2223
    assert created["has_password"] is True
    assert created["has_private_key"] is False
    assert created["enabled"] is True
    assert created["remote_dir"] == "."
    assert "password" not in created
    server_id = created["id"]

    fetched = client.get(f"/api/servers/{server_id}")
    assert fetched.status_code == 200
    assert fetched.json() == created

    listed = client.get("/api/servers")
    assert created in listed.json()

    patched = client.patch(
        f"/api/servers/{server_id}", json={"poll_interval_s": 5, "remote_dir": "/outbox"}
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["poll_interval_s"] == 5
    assert changed["remote_dir"] == "/outbox"
    assert changed["updated_at"] > created["updated_at"]
    for key, value in changed.items():
        if key not in {"poll_interval_s", "remote_dir", "updated_at"}:
            assert value == created[key], key  # has_password too: omitted, so kept

    deleted = client.delete(f"/api/servers/{server_id}")
    assert deleted.status_code == 204
    assert client.get(f"/api/servers/{server_id}").status_code == 404
    assert client.delete(f"/api/servers/{server_id}").status_code == 404
    assert client.patch(f"/api/servers/{server_id}", json={"port": 23}).status_code == 404


def test_a_server_needs_a_password_or_a_key(client: TestClient[Litestar]) -> None:
    reason = "give a password or a private key: discovery logs in to the server with one of them"
    body = server_body()
    del body["password"]
    refused = client.post("/api/servers", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"] == reason
    assert {error["key"] for error in refused.json()["extra"]} == {"password", "private_key"}
    assert all(s["name"] != body["name"] for s in client.get("/api/servers").json())

    server = create_server(client)
    cleared = client.patch(f"/api/servers/{server['id']}", json={"password": None})
    assert cleared.status_code == 422
    assert cleared.json()["detail"] == reason
    assert client.get(f"/api/servers/{server['id']}").json()["has_password"] is True
    private, _ = ssh_keypair()
    swapped = client.patch(f"/api/servers/{server['id']}",
                           json={"password": None, "private_key": private})
    assert swapped.status_code == 200, swapped.text
    assert (swapped.json()["has_password"], swapped.json()["has_private_key"]) == (False, True)


def test_duplicate_name_is_a_conflict(client: TestClient[Litestar]) -> None:
    first = create_server(client)
    again = client.post("/api/servers", json=server_body(name=first["name"]))
    assert again.status_code == 409
    assert first["name"] in again.json()["detail"]

    second = create_server(client)
    rename = client.patch(f"/api/servers/{second['id']}", json={"name": first["name"]})
    assert rename.status_code == 409


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "twenty-two"}, "port"),
        ({"name": "has space"}, "name"),
        ({"name": "-leading-dash"}, "name"),
        ({"name": "x" * 64}, "name"),
        ({"host": "two words"}, "host"),
        ({"host": ""}, "host"),
        ({"username": ""}, "username"),
        ({"remote_dir": ""}, "remote_dir"),
        ({"pattern": "a/b"}, "pattern"),
        ({"job_pattern": "[a-z].csv"}, "job_pattern"),
        ({"job_pattern": "../x"}, "job_pattern"),
        ({"job_pattern": "*" * 201}, "job_pattern"),
        ({"poll_interval_s": 0}, "poll_interval_s"),
        ({"min_file_age_s": -1}, "min_file_age_s"),
        ({"max_connections": 0}, "max_connections"),
        ({"max_listing_entries": 0}, "max_listing_entries"),
        ({"max_depth": -1}, "max_depth"),
        ({"scan_failures": 0}, "scan_failures"),
        ({"host_key": "AAAAC3NzaC1lZDI1NTE5AAAAIA"}, "host_key"),
        ({"host_key": "ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, "host_key"),
        ({"host_key": "ssh-ed25519 not-base64!"}, "host_key"),
        ({"private_key": "hunter2"}, "private_key"),
        ({"password": ""}, "password"),
        ({"password_enc": "x"}, "password_enc"),
    ],
)
def test_invalid_server_names_the_field(
    client: TestClient[Litestar], overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/api/servers", json=server_body(**overrides))
    assert field in error_keys(response)


def test_host_key_must_match_its_type(client: TestClient[Litestar]) -> None:
    _, public = ssh_keypair()
    blob = public.split()[1]
    response = client.post("/api/servers", json=server_body(host_key=f"ssh-rsa {blob}"))
    assert "host_key" in error_keys(response)


def test_patch_rejects_null_for_required_fields(client: TestClient[Litestar]) -> None:
    server = create_server(client)
    response = client.patch(f"/api/servers/{server['id']}", json={"host": None})
    assert "host" in error_keys(response)
    response = client.patch(f"/api/servers/{server['id']}", json={"port": 0})
    assert "port" in error_keys(response)


def test_host_key_is_stored_without_comment(client: TestClient[Litestar]) -> None:
    _, public = ssh_keypair()
    server = create_server(client, host_key=f"  {public} ops@example.com ")
    assert server["host_key"] == public
    cleared = client.patch(f"/api/servers/{server['id']}", json={"host_key": None})
    assert cleared.json()["host_key"] is None


def test_job_pattern_is_set_read_back_and_cleared(client: TestClient[Litestar]) -> None:
    assert create_server(client)["job_pattern"] is None
    server = create_server(client, job_pattern="*.csv")
    assert client.get(f"/api/servers/{server['id']}").json()["job_pattern"] == "*.csv"
    changed = client.patch(f"/api/servers/{server['id']}", json={"job_pattern": "day-??.csv"})
    assert changed.json()["job_pattern"] == "day-??.csv"
    kept = client.patch(f"/api/servers/{server['id']}", json={"port": 2222})
    assert kept.json()["job_pattern"] == "day-??.csv"
    for empty in (None, ""):
        client.patch(f"/api/servers/{server['id']}", json={"job_pattern": "*.csv"})
        cleared = client.patch(f"/api/servers/{server['id']}", json={"job_pattern": empty})
        assert cleared.status_code == 200, cleared.text
        assert client.get(f"/api/servers/{server['id']}").json()["job_pattern"] is None


@pytest.mark.parametrize(
    ("job_pattern", "message"),
    [
        ("[a-z].csv", "only * (any characters) and ? (one character) are wildcards; [ ] cannot"
                      " be used"),
        ("*.{csv,tsv}", "only * (any characters) and ? (one character) are wildcards; { }"
                        " cannot be used"),
        ("../x", "is matched against file names, so it cannot contain '/'"),
        ("a\\b", "only * (any characters) and ? (one character) are wildcards; \\ cannot"
                  " be used"),
        ("a\nb.csv", "must not contain control characters"),
    ],
)
def test_a_bad_job_pattern_is_refused_and_says_why(
    client: TestClient[Litestar], job_pattern: str, message: str
) -> None:
    server = create_server(client, job_pattern="*.csv")
    for response in (
        client.post("/api/servers", json=server_body(job_pattern=job_pattern)),
        client.patch(f"/api/servers/{server['id']}", json={"job_pattern": job_pattern}),
    ):
        assert "job_pattern" in error_keys(response)
        [error] = response.json()["extra"]
        assert message in error["message"]
    assert client.get(f"/api/servers/{server['id']}").json()["job_pattern"] == "*.csv"


def test_private_keys(client: TestClient[Litestar]) -> None:
    private, _ = ssh_keypair()
    server = create_server(client, private_key=private)
    assert server["has_private_key"] is True

    protected = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
        .decode()
    )
    response = client.post("/api/servers", json=server_body(private_key=protected))
    assert "private_key" in error_keys(response)
    assert "passphrase" in response.text


def test_scan_now(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    db.execute(
        "UPDATE servers SET next_scan_at = now() + interval '1 day' WHERE id = %s",
        (server["id"],),
    )
    before = datetime.now(UTC)
    response = client.post(f"/api/servers/{server['id']}/scan")
    assert response.status_code == 202
    cur = db.execute("SELECT next_scan_at FROM servers WHERE id = %s", (server["id"],))
    row = cur.fetchone()
    assert row is not None
    assert row["next_scan_at"] <= datetime.now(UTC)
    assert row["next_scan_at"] >= before - timedelta(seconds=5)

    client.patch(f"/api/servers/{server['id']}", json={"enabled": False})
    disabled = client.post(f"/api/servers/{server['id']}/scan")
    assert disabled.status_code == 409
    assert client.post("/api/servers/999999999/scan").status_code == 404


def test_listing_caps_are_edited_and_the_backoff_shown(client: TestClient[Litestar],
                                                       db: Db) -> None:
    server = create_server(client)
    # The defaults of infra/migrations/0008_fleet_discovery.sql.
    assert (server["max_listing_entries"], server["max_depth"]) == (1_000_000, 16)
    assert (server["scan_failures"], server["last_scan_ok_at"]) == (0, None)

    capped = client.patch(f"/api/servers/{server['id']}",
                          json={"max_listing_entries": 500, "max_depth": 0})
    assert capped.status_code == 200, capped.text
    assert (capped.json()["max_listing_entries"], capped.json()["max_depth"]) == (500, 0)

    db.execute("UPDATE servers SET scan_failures = 4, last_scan_error = 'cannot reach',"
               " next_scan_at = now() + interval '1 hour' WHERE id = %s", (server["id"],))
    failing = client.get(f"/api/servers/{server['id']}").json()
    assert failing["scan_failures"] == 4
    assert datetime.fromisoformat(failing["next_scan_at"]) > datetime.now(UTC) + timedelta(
        minutes=55)
    assert failing in client.get("/api/servers").json()

    # An operator's change may be the fix: the server is due at once; the count stays
    # until a scan succeeds.
    edited = client.patch(f"/api/servers/{server['id']}", json={"port": 2022}).json()
    assert datetime.fromisoformat(edited["next_scan_at"]) <= datetime.now(UTC)
    assert edited["scan_failures"] == 4


def test_delete_keeps_a_server_with_files(client: TestClient[Litestar], db: Db) -> None:
    server = create_server(client)
    file_id = insert_file(db, server["id"])

    response = client.delete(f"/api/servers/{server['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["server"]["id"] == server["id"]
    assert body["server"]["enabled"] is False
    assert "disabled" in body["note"]
    assert client.get(f"/api/files/{file_id}").status_code == 200
    assert client.get(f"/api/servers/{server['id']}").json()["enabled"] is False



def test_a_request_without_a_body_is_told_so(client: TestClient[Litestar]) -> None:
    server_id = create_server(client)["id"]
    for method, path in (("POST", "/api/servers"), ("PATCH", f"/api/servers/{server_id}")):
        response = client.request(method, path, content=b"",
                                  headers={"Content-Type": "application/json"})
        assert response.status_code == 400
        assert response.json()["detail"] == (
            f"{method} {path} needs a JSON object as its body; /schema shows its fields")
    response = client.post("/api/servers", json={"name": "x"})  # other errors as before
    assert response.status_code == 400 and response.json()["extra"]

"""``POST /api/servers/{id}/test`` against the run's real sshd: what an operator is told."""

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.conftest import create_server, ssh_keypair
from tests.processes import free_port


@pytest.fixture
def folder(sftp_server: Any) -> str:
    name = f"{sftp_server.inbox}/probe-{uuid.uuid4().hex[:8]}"
    local = sftp_server.home / name
    local.mkdir(parents=True)
    local.chmod(0o755)
    for index in range(25):
        path = local / f"file-{index:02}.csv"
        path.write_bytes(b"x" * index)
        path.chmod(0o644)
    (local / "skipped.part").write_bytes(b"partial")
    return name


def sftp_body(sftp_server: Any, **overrides: Any) -> dict[str, Any]:
    return {"host": sftp_server.host, "port": sftp_server.port,
            "username": sftp_server.username, "password": sftp_server.password,
            "host_key": sftp_server.host_key, "enabled": False, **overrides}


def probe(client: TestClient[Litestar], server: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/servers/{server['id']}/test")
    assert response.status_code == 200, response.text
    assert "password" not in response.text.lower()
    return response.json()


def test_a_good_server_lists_its_first_files(client: TestClient[Litestar], sftp_server: Any,
                                             folder: str) -> None:
    server = create_server(client, **sftp_body(sftp_server, remote_dir=folder, pattern="*.csv"))
    result = probe(client, server)
    assert result["ok"] is True, result
    assert result["error"] is None
    assert result["host_key_pinned"] is True
    assert result["host_key"].split()[:2] == sftp_server.host_key.split()[:2]
    assert len(result["entries"]) == 20
    assert all(entry["path"].startswith(folder) and entry["path"].endswith(".csv")
               for entry in result["entries"])
    assert sftp_server.password not in str(result)


def test_what_goes_wrong_is_said_exactly(client: TestClient[Litestar], sftp_server: Any,
                                         folder: str) -> None:
    wrong_password = create_server(client, **sftp_body(sftp_server, password="not-it-0815",
                                                       remote_dir=folder))
    result = probe(client, wrong_password)
    assert result["ok"] is False
    assert result["error"] == (
        f"authentication as {sftp_server.username!r} on {sftp_server.host} failed")
    assert "not-it-0815" not in str(result)

    unpinned = create_server(client, **sftp_body(sftp_server, host_key=None, remote_dir=folder))
    result = probe(client, unpinned)
    assert result["ok"] is False
    assert result["error"].startswith(f"no host key pinned for {sftp_server.host}")
    # The key it presents, fetched without sending credentials, ready to compare and pin.
    assert result["host_key"].split()[:2] == sftp_server.host_key.split()[:2]
    assert result["host_key_pinned"] is False

    _, other_key = ssh_keypair()
    impostor = create_server(client, **sftp_body(sftp_server, host_key=other_key))
    result = probe(client, impostor)
    assert result["ok"] is False
    assert result["error"].startswith(f"host key of {sftp_server.host}:{sftp_server.port} "
                                      "changed")
    assert result["host_key"].split()[:2] == sftp_server.host_key.split()[:2]

    no_dir = create_server(client, **sftp_body(sftp_server, remote_dir=f"{folder}/nope"))
    result = probe(client, no_dir)
    assert result["ok"] is False
    assert result["error"] == f"the directory '{folder}/nope' does not exist on the server"

    closed = create_server(client, **sftp_body(sftp_server, port=free_port()))
    result = probe(client, closed)
    assert result["ok"] is False
    assert result["error"].startswith(f"cannot reach {sftp_server.host}:")
    assert result["host_key"] is None

    assert client.post("/api/servers/999999999/test").status_code == 404

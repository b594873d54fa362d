"""run.sh registers the demo SFTP server only when the admin does not list it yet (a POST
that the admin refuses as a duplicate would still use up a server id on every run), and
otherwise sets its connection to this run's: a new .state brings a new host key, password
and INTAKE_SECRET_KEY, which the stored password was sealed with."""

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class FakeAdmin(ThreadingHTTPServer):
    """Answers GET /api/servers with ``servers`` and records every request."""

    def __init__(self, servers: list[dict[str, object]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.servers = servers
        self.requests: list[tuple[str, str, dict[str, object] | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeAdmin

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.requests.append(("GET", self.path, None))
        self._answer(200, self.server.servers)

    def do_POST(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, sent))
        self._answer(201, {"id": 1, **sent})

    def do_PATCH(self) -> None:
        sent = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("PATCH", self.path, sent))
        self._answer(200, {"id": 7, "name": "demo", **sent})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def admin(request: pytest.FixtureRequest) -> Iterator[FakeAdmin]:
    server = FakeAdmin(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def register_demo(admin_url: str) -> subprocess.CompletedProcess[str]:
    """run.sh's own register_demo function, run as run.sh runs it."""
    script = (ROOT / "run.sh").read_text()
    match = re.search(r"^register_demo\(\) \{\n.*?^PY\n\}\n", script, re.MULTILINE | re.DOTALL)
    assert match, "run.sh has no register_demo function"
    program = f"ADMIN={admin_url}\n{match.group(0)}register_demo 127.0.0.1 2222 'ssh-ed25519 AAAA'"
    env = {"PATH": "/usr/bin:/bin", "INTAKE_ADMIN_TOKEN": "token", "DEMO_SFTP_PASSWORD": "pw"}
    return subprocess.run(["bash", "-c", program], env=env, capture_output=True, text=True,
                          timeout=30, check=False)


@pytest.mark.parametrize("admin", [[{"id": 7, "name": "demo"}]], indirect=True)
def test_a_registered_demo_server_gets_this_run_s_connection(admin: FakeAdmin) -> None:
    result = register_demo(admin.url)
    assert result.returncode == 0, result.stderr
    assert admin.requests[1:] == [("PATCH", "/api/servers/7", {
        "host": "127.0.0.1", "port": 2222, "username": "intake-demo", "password": "pw",
        "host_key": "ssh-ed25519 AAAA"})]
    assert admin.requests[0][:2] == ("GET", "/api/servers")


@pytest.mark.parametrize("admin", [[{"id": 3, "name": "partner"}]], indirect=True)
def test_the_demo_server_is_registered_when_missing(admin: FakeAdmin) -> None:
    result = register_demo(admin.url)
    assert result.returncode == 0, result.stderr
    assert "registered the demo SFTP server as 'demo'" in result.stdout
    [get, (method, path, body)] = admin.requests
    assert get[:2] == ("GET", "/api/servers")
    assert (method, path) == ("POST", "/api/servers")
    assert body is not None
    assert (body["name"], body["port"], body["host_key"]) == ("demo", 2222, "ssh-ed25519 AAAA")

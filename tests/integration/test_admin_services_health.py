"""The dashboard's services panel: each service of INTAKE_SERVICE_URLS is ready only while
its /readyz answers 2xx; one that is down (nothing listens) or not ready shows so."""

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litestar.testing import TestClient

from services.admin.main import create_app
from services.admin.settings import AdminSettings
from tests.integration.conftest import AdminCredentials, Console


class _Readyz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/readyz" and self.server.ready else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(ready: bool) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readyz)
    server.ready = ready  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def service_urls() -> Iterator[str]:
    up, starting = _serve(ready=True), _serve(ready=False)
    with socket.socket() as probe:  # a port nothing listens on: the service is down
        probe.bind(("127.0.0.1", 0))
        down_port = probe.getsockname()[1]
    try:
        yield (f"uploader=http://127.0.0.1:{up.server_address[1]}, "
               f"notifier=http://127.0.0.1:{starting.server_address[1]}/,"
               f"discovery=http://127.0.0.1:{down_port}")
    finally:
        for server in (up, starting):
            server.shutdown()
            server.server_close()


def test_a_down_service_is_not_ready(admin_settings: AdminSettings,
                                     admin_credentials: AdminCredentials,
                                     service_urls: str) -> None:
    settings = AdminSettings.model_validate({**admin_settings.model_dump(),
                                             "service_urls": service_urls})
    with TestClient(app=create_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {admin_credentials.token}"
        response = client.get("/api/stats")
    assert response.status_code == 200, response.text
    ready = {service["name"]: service["ready"] for service in response.json()["services"]}
    assert ready == {"uploader": True, "notifier": False, "discovery": False}


def test_the_dashboard_shows_them(admin_settings: AdminSettings,
                                  admin_credentials: AdminCredentials, service_urls: str) -> None:
    settings = AdminSettings.model_validate({**admin_settings.model_dump(),
                                             "service_urls": service_urls})
    with TestClient(app=create_app(settings)) as client:
        console = Console(client)
        assert console.login(admin_credentials.user, admin_credentials.password).status_code == 303
        page = client.get("/dashboard/live")
    assert page.status_code == 200, page.text
    panel = page.text[page.text.index("<h2>Services</h2>"):]
    assert panel.count(">not ready<") == 2
    assert panel.count(">ready<") == 1


def test_malformed_service_urls_are_refused(admin_settings: AdminSettings) -> None:
    with pytest.raises(ValueError, match="NAME=http://HOST:PORT"):
        AdminSettings.model_validate({**admin_settings.model_dump(),
                                      "service_urls": "uploader=127.0.0.1:8103"})

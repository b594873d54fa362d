"""Who may use the admin: bearer token for the API, login session and CSRF for the pages."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from services.admin.auth import access
from services.admin.auth.passwords import PasswordHash
from services.admin.auth.throttle import FREE_ATTEMPTS
from services.admin.main import create_app
from services.admin.settings import AdminSettings
from tests.integration.conftest import AdminCredentials, Console, create_server, server_body

PAGES = ["/", "/files", "/servers", "/servers/new", "/upload", "/dashboard/live"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token", "Basic YWRtaW46YWRtaW4=", "token"],
)
def test_api_needs_the_bearer_token(anonymous: TestClient[Litestar],
                                    authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in [("GET", "/api/servers"), ("GET", "/api/files"), ("GET", "/api/stats"),
                         ("POST", "/api/servers"), ("POST", "/api/files")]:
        response = anonymous.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status_code"] == 401
        assert "Bearer" in response.headers["www-authenticate"]


def test_token_works_in_any_case_of_the_scheme(anonymous: TestClient[Litestar],
                                               admin_credentials: AdminCredentials) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = anonymous.get("/api/servers",
                                 headers={"Authorization": f"{scheme} {admin_credentials.token}"})
        assert response.status_code == 200, scheme
    # A session cookie does not open the API: it is not a bearer token.
    response = anonymous.get("/api/servers")
    assert response.status_code == 401


def test_open_endpoints(anonymous: TestClient[Litestar]) -> None:
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/readyz").json() == {"status": "ok", "database": "ok", "broker": "ok"}
    assert anonymous.get("/metrics").status_code == 200
    assert anonymous.get("/login").status_code == 200
    assert anonymous.get("/static/htmx.min.js").status_code == 200
    assert anonymous.get("/static/admin.css").status_code == 200


def test_pages_redirect_to_login(anonymous: TestClient[Litestar]) -> None:
    for path in PAGES:
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login"), path
    response = anonymous.get("/files?status=failed", follow_redirects=False)
    assert response.headers["location"] == "/login?next=%2Ffiles%3Fstatus%3Dfailed"
    # htmx cannot follow a redirect for a fragment: it is told where to navigate instead.
    fragment = anonymous.get("/dashboard/live", headers={"hx-request": "true"})
    assert fragment.status_code == 401
    assert fragment.headers["hx-redirect"].startswith("/login")
    # Unsafe requests without a session are refused before anything happens.
    assert anonymous.post("/servers/new", data={"name": "x"},
                          follow_redirects=False).status_code == 303


def test_schema_is_behind_either_credential(anonymous: TestClient[Litestar],
                                            admin_credentials: AdminCredentials) -> None:
    # The document is for scripts: a 401 they can read. Its viewers are for people: log in.
    for document in ("/schema/openapi.json", "/schema/openapi.yaml"):
        refused = anonymous.get(document, follow_redirects=False)
        assert refused.status_code == 401, document
        assert refused.json()["status_code"] == 401
        assert "Bearer" in refused.headers["www-authenticate"]
    swagger = anonymous.get("/schema/swagger", follow_redirects=False)
    assert swagger.status_code == 303
    assert swagger.headers["location"].startswith("/login")
    schema = anonymous.get("/schema/openapi.json",
                           headers={"Authorization": f"Bearer {admin_credentials.token}"})
    assert schema.status_code == 200
    body = schema.json()
    assert body["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "The admin token (INTAKE_ADMIN_TOKEN)",
    }
    assert body["security"] == [{"bearer": []}]
    assert "401" in body["paths"]["/api/files"]["get"]["responses"]


def test_login_and_logout(app: Litestar, admin_credentials: AdminCredentials) -> None:
    with TestClient(app=app) as client:
        console = Console(client)
        wrong = console.login(admin_credentials.user, "not-the-password")
        assert wrong.status_code == 401
        assert "Wrong user name or password" in wrong.text
        assert "not-the-password" not in wrong.text
        wrong_user = console.login("admin", admin_credentials.password)
        assert wrong_user.status_code == 401

        good = console.login(admin_credentials.user, admin_credentials.password, "/servers")
        assert good.status_code == 303
        assert good.headers["location"] == "/servers"
        cookie = good.headers.get_list("set-cookie")
        session = next(c for c in cookie if c.startswith("intake_session="))
        assert "HttpOnly" in session
        assert "SameSite=lax" in session or "SameSite=Lax" in session
        assert "Secure" not in session  # cookie_secure is off in tests
        assert admin_credentials.password not in session

        for path in PAGES:
            assert client.get(path).status_code == 200, path
        assert admin_credentials.user in client.get("/").text

        # The API still wants its token, whatever the browser holds.
        assert client.get("/api/servers").status_code == 401

        token = console.csrf("/files")
        out = client.post("/logout", data={"_csrf_token": token}, follow_redirects=False)
        assert out.status_code == 303
        assert client.get("/files", follow_redirects=False).status_code == 303


def test_login_only_redirects_to_this_site(app: Litestar,
                                           admin_credentials: AdminCredentials) -> None:
    with TestClient(app=app) as client:
        console = Console(client)
        for target in ["https://evil.example/", "//evil.example/x", "/\\evil.example"]:
            response = console.login(admin_credentials.user, admin_credentials.password, target)
            assert response.headers["location"] == "/", target


def test_repeated_failed_logins_are_throttled(app: Litestar,
                                              admin_credentials: AdminCredentials) -> None:
    with TestClient(app=app) as client:
        console = Console(client)
        codes = [console.login(admin_credentials.user, f"guess-{i}").status_code
                 for i in range(6)]
        assert codes == [401] * 5 + [429]
        throttled = console.login(admin_credentials.user, admin_credentials.password)
        assert throttled.status_code == 429
        assert "Wait" in throttled.text


class CountedChecks:
    """Stands in for ``verify_password``: counts the checks and how many ran at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.real = access.verify_password
        self.lock = threading.Lock()
        self.calls = self.running = self.most_at_once = 0

    def __call__(self, password: str, stored: PasswordHash) -> bool:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.seconds)
            return self.real(password, stored)
        finally:
            with self.lock:
                self.running -= 1


def from_peer(app: Litestar, host: str) -> ASGIApp:
    """The app as reached from ``host`` (the test client's own peer is 'testclient')."""
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "client": (host, 50000)}  # type: ignore[misc]
        await app(scope, receive, send)
    return asgi


def logins(client: TestClient[Litestar], user: str) -> Callable[..., int]:
    """A function that logs in with a password, as forwarded for an address, and answers
    the status code."""
    token = Console(client).csrf("/login")

    def login(password: str, forwarded: str | None = None) -> int:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        return client.post("/login", data={"_csrf_token": token, "username": user,
                                           "password": password, "next": ""},
                           headers=headers, follow_redirects=False).status_code
    return login


def proxied_settings(admin_settings: AdminSettings) -> AdminSettings:
    return AdminSettings.model_validate({**admin_settings.model_dump(),
                                         "trusted_proxies": "10.0.0.0/8, fd00::/8"})


def test_concurrent_wrong_logins_are_counted_before_they_are_checked(
        app: Litestar, admin_credentials: AdminCredentials,
        monkeypatch: pytest.MonkeyPatch) -> None:
    checks = CountedChecks(seconds=0.3)
    monkeypatch.setattr(access, "verify_password", checks)
    with TestClient(app=app) as client:
        login = logins(client, admin_credentials.user)
        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(lambda i: login(f"guess-{i}"), range(40)))
    assert checks.calls <= FREE_ATTEMPTS
    assert codes.count(401) == checks.calls
    assert codes.count(429) == 40 - checks.calls
    assert checks.most_at_once <= 2


def test_password_checks_beyond_the_queue_are_refused_at_once(
        admin_settings: AdminSettings, admin_credentials: AdminCredentials,
        monkeypatch: pytest.MonkeyPatch) -> None:
    checks = CountedChecks(seconds=0.5)
    monkeypatch.setattr(access, "verify_password", checks)
    app = from_peer(create_app(proxied_settings(admin_settings)), "10.0.0.2")
    with TestClient(app=app) as client:
        login = logins(client, admin_credentials.user)
        with ThreadPoolExecutor(40) as pool:
            codes = list(pool.map(lambda i: login("wrong", f"198.51.100.{i}"), range(40)))
    assert codes.count(401) == checks.calls
    assert codes.count(503) >= 10, codes  # 2 checking and 8 waiting at most
    assert codes.count(401) + codes.count(503) == 40
    assert checks.most_at_once <= 2


def test_clients_behind_a_trusted_proxy_are_throttled_apart(
        admin_settings: AdminSettings, admin_credentials: AdminCredentials) -> None:
    with TestClient(app=from_peer(create_app(proxied_settings(admin_settings)),
                                  "10.0.0.2")) as client:
        login = logins(client, admin_credentials.user)
        assert [login("wrong", "198.51.100.7") for _ in range(6)] == [401] * 5 + [429]
        # What the client wrote left of the proxy's own entry does not make it someone else.
        assert login(admin_credentials.password, "203.0.113.1, 198.51.100.7") == 429
        assert login("wrong", "198.51.100.8") == 401
        assert login(admin_credentials.password, "198.51.100.9") == 303


def test_an_untrusted_peer_cannot_choose_its_address(
        admin_settings: AdminSettings, admin_credentials: AdminCredentials) -> None:
    with TestClient(app=from_peer(create_app(proxied_settings(admin_settings)),
                                  "192.0.2.50")) as client:
        login = logins(client, admin_credentials.user)
        codes = [login("wrong", f"198.51.100.{i}") for i in range(6)]
        assert codes == [401] * 5 + [429]


def test_forms_need_the_csrf_token(console: Console) -> None:
    client = console.client
    body = {"name": "csrf-test", "host": "h.example", "username": "u"}
    missing = client.post("/servers/new", data=body, follow_redirects=False)
    assert missing.status_code == 403
    forged = client.post("/servers/new", data={**body, "_csrf_token": "0" * 128},
                         follow_redirects=False)
    assert forged.status_code == 403
    header_forged = client.post("/files/00000000-0000-0000-0000-000000000000/retry",
                                headers={"x-csrftoken": "abc", "hx-request": "true"})
    assert header_forged.status_code == 403
    ok = console.post("/servers/new", htmx=False, data=body)
    assert ok.status_code in {303, 400}  # accepted past CSRF (400 only if the name is taken)


def test_secrets_never_leave_the_service(client: TestClient[Litestar], console: Console,
                                         admin_settings: AdminSettings,
                                         admin_credentials: AdminCredentials,
                                         caplog: pytest.LogCaptureFixture) -> None:
    password = "pw-never-shown-4711"
    server = create_server(client, password=password)
    bodies = [
        client.get("/api/servers").text,
        client.get(f"/api/servers/{server['id']}").text,
        client.post("/api/servers", json=server_body(password=password, port=0)).text,
        client.get("/schema/openapi.json").text,
        console.get("/servers").text,
        console.get(f"/servers/{server['id']}/edit").text,
        console.post("/servers/new", htmx=False,
                     data={"name": "bad name", "host": "h", "username": "u",
                           "password": password}).text,
        console.post(f"/servers/{server['id']}/test").text,
        console.get("/").text,
    ]
    logged = "\n".join(record.getMessage() + json.dumps(record.__dict__, default=str)
                       for record in caplog.records)
    for secret in [password, admin_credentials.password, admin_credentials.token,
                   admin_credentials.session_secret, admin_settings.secret_key.get_secret_value()]:
        for body in bodies:
            assert secret not in body
        assert secret not in logged


def test_missing_settings_stop_the_service_with_a_clear_message(
        settings_env: dict[str, str]) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTAKE_")}
    env.update({key: value for key, value in settings_env.items()
                if key not in {"INTAKE_ADMIN_TOKEN", "INTAKE_ADMIN_PASSWORD_HASH",
                               "INTAKE_SESSION_SECRET"}})
    env["INTAKE_ADMIN_TOKEN"] = "too-short"
    result = subprocess.run(
        [sys.executable, "-c", "from services.admin.main import create_app; create_app()"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "INTAKE_ADMIN_TOKEN: must be at least 32 characters long" in result.stderr
    assert "INTAKE_ADMIN_PASSWORD_HASH: Field required" in result.stderr
    assert "INTAKE_SESSION_SECRET: Field required" in result.stderr
    assert "python -m services.admin.hash_password" in result.stderr
    assert "too-short" not in result.stderr

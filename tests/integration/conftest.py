"""Fixtures for the admin service's integration tests (tests/integration/test_admin_*.py).

The servers come from the session fixtures of tests/conftest.py (``settings``,
``settings_env``, ``s3``, ...): the admin runs in-process against the run's real
PostgreSQL database and RabbitMQ prefix, with credentials made up per session.
"""

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import Response
from litestar import Litestar
from litestar.testing import TestClient
from psycopg.rows import DictRow, dict_row

from infra.postgres import create_pool, migrate
from infra.settings import Settings
from services.admin.auth.passwords import hash_password
from services.admin.main import create_app
from services.admin.settings import AdminSettings

Db = psycopg.Connection[DictRow]


@dataclass(frozen=True)
class AdminCredentials:
    token: str
    user: str
    password: str
    password_hash: str
    session_secret: str

    def env(self) -> dict[str, str]:
        """The admin's settings as environment variables, for a service process."""
        return {
            "INTAKE_ADMIN_TOKEN": self.token,
            "INTAKE_ADMIN_USER": self.user,
            "INTAKE_ADMIN_PASSWORD_HASH": self.password_hash,
            "INTAKE_SESSION_SECRET": self.session_secret,
        }


@pytest.fixture
async def pool(settings: Settings):
    """An open connection pool on the run's migrated database."""
    pool = create_pool(settings)
    await pool.open(wait=True)
    await migrate(pool)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def admin_credentials() -> AdminCredentials:
    password = secrets.token_urlsafe(16)
    return AdminCredentials(
        token=secrets.token_urlsafe(32),
        user="operator",
        password=password,
        # The lowest cost the admin accepts, so that logging in stays fast in tests.
        password_hash=hash_password(password, n=2**14),
        session_secret=secrets.token_urlsafe(32),
    )


@pytest.fixture(scope="session")
def admin_settings(settings: Settings, admin_credentials: AdminCredentials) -> AdminSettings:
    return AdminSettings.model_validate({
        **settings.model_dump(),
        "admin_token": admin_credentials.token,
        "admin_user": admin_credentials.user,
        "admin_password_hash": admin_credentials.password_hash,
        "session_secret": admin_credentials.session_secret,
    })


@pytest.fixture
def app(admin_settings: AdminSettings) -> Litestar:
    return create_app(admin_settings)


@pytest.fixture
def anonymous(app: Litestar) -> Iterator[TestClient[Litestar]]:
    """A client without credentials.

    The sync client runs the lifespan and every request on one event loop (its portal's);
    AsyncTestClient would use the pool from the test's loop, not the one it was opened in.
    """
    with TestClient(app=app) as client:
        yield client


@pytest.fixture
def client(anonymous: TestClient[Litestar],
           admin_credentials: AdminCredentials) -> TestClient[Litestar]:
    """The API client: every request carries the bearer token."""
    anonymous.headers["Authorization"] = f"Bearer {admin_credentials.token}"
    return anonymous


@pytest.fixture
def console(admin_settings: AdminSettings,
            admin_credentials: AdminCredentials) -> Iterator["Console"]:
    """A logged-in browser-like client of the HTML pages (session and CSRF cookies).

    It runs its own app instance: one app's lifespan must not run twice at once.
    """
    with TestClient(app=create_app(admin_settings)) as client:
        console = Console(client)
        response = console.login(admin_credentials.user, admin_credentials.password)
        assert response.status_code == 303, response.text
        yield console


class Console:
    """Drives the pages like a browser: keeps cookies, sends the page's CSRF token."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        page = self.client.get(path)
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def login(self, user: str, password: str, next_url: str = "") -> Response:
        token = self.csrf("/login")
        return self.client.post(
            "/login",
            data={"_csrf_token": token, "username": user, "password": password,
                  "next": next_url},
            follow_redirects=False,
        )

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, *, htmx: bool = True, **kwargs: Any) -> Response:
        """A POST as the page's htmx (token in the header) or as a plain form (token field)."""
        token = self.csrf("/files")
        if htmx:
            headers = {"x-csrftoken": token, "hx-request": "true", **kwargs.pop("headers", {})}
            return self.client.post(path, headers=headers, follow_redirects=False, **kwargs)
        data = {"_csrf_token": token, **kwargs.pop("data", {})}
        return self.client.post(path, data=data, follow_redirects=False, **kwargs)


@pytest.fixture
def db(admin_settings: AdminSettings, anonymous: TestClient[Litestar]) -> Iterator[Db]:
    """A direct connection for arranging rows; the app first, so migrations have run.

    The e2e and fault tests of the same run share the database: afterwards, the made-up
    files this test left waiting are failed, so no reconciler there re-drives them.
    """
    url = admin_settings.database_url.get_secret_value()
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        started = conn.execute("SELECT now() AS at").fetchone()
        yield conn
        conn.execute(
            "UPDATE files SET status = 'failed', lease_until = NULL,"
            " error_message = 'made up by an admin test' WHERE updated_at >= %s"
            " AND status NOT IN ('notified', 'failed', 'missing')"
            " AND (source = 'upload' OR server_id IN"
            "      (SELECT id FROM servers WHERE name LIKE 't-%%'))",
            (started["at"] if started else None,),
        )


def unique_name() -> str:
    return f"t-{uuid4().hex[:12]}"


# Nothing listens on the discard port of the loopback: should a discovery of this test run
# poll these servers (the e2e tests share the database), it only ever reaches this machine.
UNREACHABLE = {"host": "127.0.0.1", "port": 9}


def server_body(**overrides: Any) -> dict[str, Any]:
    return {"name": unique_name(), **UNREACHABLE, "username": "partner",
            "password": "partner-password", **overrides}


def ssh_keypair() -> tuple[str, str]:
    """An unencrypted OpenSSH private key and its public key line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public


def create_server(client: TestClient[Litestar], **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/servers", json=server_body(**overrides))
    assert response.status_code == 201, response.text
    server: dict[str, Any] = response.json()
    return server


def insert_file(db: Db, server_id: int | None, *, filename: str = "data.csv",
                status: str = "discovered", created_at: Any = None, size: int = 1234,
                **columns: Any) -> UUID:
    values = {
        "server_id": server_id, "remote_path": f"/in/{uuid4().hex}/{filename}",
        "filename": filename, "size": size, "remote_mtime": 1_700_000_000, "status": status,
        "source": "sftp" if server_id is not None else "upload", **columns,
    }
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    cur = db.execute(
        f"INSERT INTO files ({names}, created_at) VALUES ({marks}, coalesce(%s, now()))"
        " RETURNING id",
        [*values.values(), created_at],
    )
    row = cur.fetchone()
    assert row is not None
    file_id: UUID = row["id"]
    return file_id


def error_keys(response: Response) -> set[str]:
    assert response.status_code == 400, response.text
    return {error.get("key", "") for error in response.json().get("extra", [])}


async def _take(amqp_url: str, queue_name: str, message_ids: set[str],
                timeout: float) -> dict[str, Any]:
    import asyncio
    import json
    import time

    import aio_pika

    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(queue_name, ensure=True)
        while set(found) != message_ids and time.monotonic() < deadline:
            message = await queue.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            if message.message_id in message_ids:
                found[message.message_id] = json.loads(message.body)
    return found


def live_spool(db: Db, settings: Settings) -> str:
    """A spool that shows life (a fresh ``spools`` row), its queues declared; returns its id."""
    import asyncio

    from infra.broker import SpoolQueues, create_broker, declare_spool_queues

    spool_id = f"live-{uuid4().hex[:10]}"
    db.execute("INSERT INTO spools (id, hostname) VALUES (%s, 'test')", (spool_id,))

    async def declare() -> None:
        broker = create_broker(settings.amqp_url.get_secret_value(), prefetch=1)
        await broker.connect()
        try:
            await declare_spool_queues(broker, settings.topology,
                                       SpoolQueues(spool_id, settings.spool_queue_expires_seconds))
        finally:
            await broker.stop()

    asyncio.run(declare())
    return spool_id


def take_messages(amqp_url: str, queue_name: str, message_ids: set[str],
                  timeout: float = 10.0) -> dict[str, Any]:
    """Consume the queue until every wanted message id arrived (others are dropped: nothing
    consumes these queues during integration tests); returns their bodies by id."""
    import asyncio

    return asyncio.run(_take(amqp_url, queue_name, message_ids, timeout))

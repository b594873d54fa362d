"""The real servers a test session runs against, each found in this order:

1. one named by ``INTAKE_TEST_*`` environment variables (see each function);
2. a container, when a Docker engine answers (testcontainers);
3. a local one: this machine's PostgreSQL and RabbitMQ on 127.0.0.1, and SeaweedFS and a
   private sshd started on free ports through ``scripts/s3-server.sh`` and
   ``scripts/sftp-server.sh`` (the sshd needs root: it creates a system account).
"""

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import aio_pika
import psycopg
from psycopg import sql
from testcontainers.community.minio import MinioContainer
from testcontainers.community.postgres import PostgresContainer
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

from tests.processes import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str  # "host:port", plain HTTP
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class SftpServer:
    host: str
    port: int
    username: str
    password: str
    host_key: str  # "ssh-ed25519 AAAA... comment", the line to pin
    home: Path  # the account's home as a local path; tests write the remote files here
    inbox: str = "inbox"  # a directory in home, relative to the SFTP login directory


@functools.cache
def docker_engine() -> bool:
    """Whether a Docker engine answers (``docker info``, as run.sh asks), so that
    testcontainers can start containers. The CLI, not the Python SDK: the SDK leaks a
    socket when no engine answers, and unclosed sockets fail the run (filterwarnings)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=30,
                              check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _script(*args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(
        [str(SCRIPTS / args[0]), *args[1:]], env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=180, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")


# --- PostgreSQL ---------------------------------------------------------------------------

@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """An admin URL (a role allowed to create databases): INTAKE_TEST_DATABASE_URL."""
    if url := os.environ.get("INTAKE_TEST_DATABASE_URL"):
        yield url
    elif docker_engine():
        with PostgresContainer("postgres:16", driver=None) as container:
            yield container.get_connection_url()
    else:
        yield LOCAL_POSTGRES


@contextlib.contextmanager
def fresh_database(admin_url: str, name: str) -> Iterator[str]:
    """Create database ``name`` on the server of ``admin_url``; drop it afterwards."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# --- RabbitMQ -----------------------------------------------------------------------------

@contextlib.contextmanager
def rabbitmq() -> Iterator[str]:
    """An AMQP URL: INTAKE_TEST_AMQP_URL."""
    if url := os.environ.get("INTAKE_TEST_AMQP_URL"):
        yield url
    elif docker_engine():
        container = (
            DockerContainer("rabbitmq:3.13-management")
            .with_exposed_ports(5672)
            .waiting_for(LogMessageWaitStrategy("Server startup complete"))
        )
        with container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
            yield f"amqp://guest:guest@{host}:{port}/"
    else:
        yield LOCAL_RABBITMQ


def delete_amqp_names(amqp_url: str, prefix: str) -> None:
    """Best effort: delete the queues and exchanges named ``prefix`` or ``prefix.*``.

    Names are listed through the management API (port 15672 of the broker's host) or, for
    this machine's own broker, ``rabbitmqctl``; when neither answers, nothing is deleted.
    """
    queues, exchanges = _list_amqp_names(amqp_url)

    def ours(name: str) -> bool:
        return name == prefix or name.startswith(f"{prefix}.")

    asyncio.run(_delete_amqp_names(
        amqp_url, [q for q in queues if ours(q)], [e for e in exchanges if ours(e)]
    ))


def _list_amqp_names(amqp_url: str) -> tuple[list[str], list[str]]:
    parts = urlsplit(amqp_url)
    vhost = unquote(parts.path[1:]) or "/"
    api = f"http://{parts.hostname}:15672/api"
    auth = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    auth.add_password(None, api, unquote(parts.username or "guest"),
                      unquote(parts.password or "guest"))
    opener = urllib.request.build_opener(urllib.request.HTTPBasicAuthHandler(auth))

    def listed(kind: str) -> list[str]:
        url = f"{api}/{kind}/{quote(vhost, safe='')}?columns=name"
        with opener.open(url, timeout=5) as response:
            return [item["name"] for item in json.load(response)]

    with contextlib.suppress(OSError, ValueError):
        return listed("queues"), listed("exchanges")
    if parts.hostname in ("127.0.0.1", "localhost") and (parts.port or 5672) == 5672:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            return _rabbitmqctl("list_queues", vhost), _rabbitmqctl("list_exchanges", vhost)
    return [], []


def _rabbitmqctl(command: str, vhost: str) -> list[str]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "--no-table-headers", command, "-p", vhost, "name"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


async def _delete_amqp_names(amqp_url: str, queues: list[str], exchanges: list[str]) -> None:
    if not queues and not exchanges:
        return
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for name in queues:
            async with connection.channel() as channel:
                await channel.queue_delete(name)
        for name in exchanges:
            async with connection.channel() as channel:
                await channel.exchange_delete(name)


# --- S3 -----------------------------------------------------------------------------------

@contextlib.contextmanager
def s3_server(state_dir: Path) -> Iterator[S3Endpoint]:
    """INTAKE_TEST_S3_ENDPOINT ("host:port") with INTAKE_TEST_S3_ACCESS_KEY and
    INTAKE_TEST_S3_SECRET_KEY (default minioadmin/minioadmin)."""
    if endpoint := os.environ.get("INTAKE_TEST_S3_ENDPOINT"):
        yield S3Endpoint(endpoint, os.environ.get("INTAKE_TEST_S3_ACCESS_KEY", "minioadmin"),
                         os.environ.get("INTAKE_TEST_S3_SECRET_KEY", "minioadmin"))
    elif docker_engine():
        with MinioContainer("minio/minio") as container:
            config = container.get_config()
            yield S3Endpoint(config["endpoint"], config["access_key"], config["secret_key"])
    else:
        endpoint = S3Endpoint(f"127.0.0.1:{free_port()}", "intake-test", secrets.token_hex(16))
        port = endpoint.endpoint.rsplit(":", 1)[1]
        keys = {"AWS_ACCESS_KEY_ID": endpoint.access_key,
                "AWS_SECRET_ACCESS_KEY": endpoint.secret_key}
        _script("s3-server.sh", "start", str(state_dir), port, env=keys)
        try:
            yield endpoint
        finally:
            _script("s3-server.sh", "stop", str(state_dir))


# --- SFTP ---------------------------------------------------------------------------------

@contextlib.contextmanager
def sftp_server(state_dir: Path, username: str) -> Iterator[SftpServer]:
    """INTAKE_TEST_SFTP_HOST with INTAKE_TEST_SFTP_PORT (22), _USERNAME, _PASSWORD,
    _HOST_KEY (the line to pin), _HOME (the account's home as a local path) and
    _INBOX (inbox)."""
    env = os.environ
    if host := env.get("INTAKE_TEST_SFTP_HOST"):
        yield SftpServer(host, int(env.get("INTAKE_TEST_SFTP_PORT", "22")),
                         env["INTAKE_TEST_SFTP_USERNAME"], env["INTAKE_TEST_SFTP_PASSWORD"],
                         env["INTAKE_TEST_SFTP_HOST_KEY"], Path(env["INTAKE_TEST_SFTP_HOME"]),
                         env.get("INTAKE_TEST_SFTP_INBOX", "inbox"))
    elif docker_engine():
        with _sftp_container(state_dir, username) as server:
            yield server
    else:
        with _local_sftp(state_dir, username) as server:
            yield server


@contextlib.contextmanager
def _sftp_container(state_dir: Path, username: str) -> Iterator[SftpServer]:
    password = secrets.token_urlsafe(16)
    home = state_dir / "home"
    (home / "inbox").mkdir(parents=True)
    # atmoz/sftp chroots the account into its home; the inbox is this run's directory.
    container = (
        DockerContainer("atmoz/sftp")
        .with_command(f"{username}:{password}:1001")
        .with_volume_mapping(str(home / "inbox"), f"/home/{username}/inbox", "rw")
        .with_exposed_ports(22)
        .waiting_for(LogMessageWaitStrategy("Server listening on"))
    )
    with container:
        def host_key() -> str:
            result = container.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
            return result.output.decode().strip() if result.exit_code == 0 else ""

        key = str(wait_for(host_key, timeout=30, what="the container's ed25519 host key"))
        yield SftpServer(container.get_container_host_ip(),
                         int(container.get_exposed_port(22)), username, password, key, home)


@contextlib.contextmanager
def _local_sftp(state_dir: Path, username: str) -> Iterator[SftpServer]:
    if os.geteuid() != 0:
        raise RuntimeError("the local SFTP server needs root (it creates a system account); "
                           "or set INTAKE_TEST_SFTP_* to use an existing server")
    port, password = free_port(), secrets.token_urlsafe(16)
    try:
        _script("sftp-server.sh", "start", str(state_dir), str(port), username, password)
        yield SftpServer("127.0.0.1", port, username, password,
                         (state_dir / "hostkey.pub").read_text().strip(),
                         Path("/srv/intake-sftp") / username)
    finally:
        _script("sftp-server.sh", "stop", str(state_dir))
        # --force: sessions a test left open still run as the account.
        subprocess.run(["userdel", "--force", "--remove", username],
                       capture_output=True, check=False)

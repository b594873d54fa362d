"""Each session fixture hands out a server that works, and the compose file is valid."""

import base64
import io
import os
import shutil
import subprocess
import uuid

import aio_pika
import paramiko
import psycopg
import pytest
from minio import Minio

from infra.settings import Settings
from tests.servers import ROOT, S3Endpoint, SftpServer


def test_database_is_fresh_and_writable(database_url: str, run_id: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.info.dbname == f"intake_{run_id}"
        conn.execute("CREATE TABLE fixture_probe (id int PRIMARY KEY)")
        conn.execute("INSERT INTO fixture_probe VALUES (1)")
        assert conn.execute("SELECT id FROM fixture_probe").fetchall() == [(1,)]
        conn.execute("DROP TABLE fixture_probe")


async def test_broker_round_trips_a_message(amqp_url: str, amqp_prefix: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{amqp_prefix}.probe", auto_delete=True)
        body = uuid.uuid4().bytes
        # The channel has publisher confirms on: once publish returns, the queue holds it.
        await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue.name)
        message = await queue.get(timeout=10)
        await message.ack()
        assert message.body == body


def test_s3_round_trips_an_object(s3: S3Endpoint, run_id: str) -> None:
    client = Minio(s3.endpoint, access_key=s3.access_key, secret_key=s3.secret_key,
                   secure=False)
    bucket = f"probe-{run_id}"
    client.make_bucket(bucket)
    data = uuid.uuid4().bytes * 100
    client.put_object(bucket, "dir/probe.bin", io.BytesIO(data), len(data))
    assert client.stat_object(bucket, "dir/probe.bin").size == len(data)
    response = client.get_object(bucket, "dir/probe.bin")
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    client.remove_object(bucket, "dir/probe.bin")
    client.remove_bucket(bucket)


def test_sftp_lists_the_inbox_with_the_pinned_host_key(sftp_server: SftpServer) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}.txt"
    local = sftp_server.home / sftp_server.inbox / name
    local.write_bytes(b"probe")
    local.chmod(0o644)
    key_type, key_data = sftp_server.host_key.split()[:2]
    client = paramiko.SSHClient()
    with client:
        host = sftp_server.host if sftp_server.port == 22 else \
            f"[{sftp_server.host}]:{sftp_server.port}"
        client.get_host_keys().add(
            host, key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
        )
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(sftp_server.host, sftp_server.port, sftp_server.username,
                       sftp_server.password, look_for_keys=False, allow_agent=False, timeout=10)
        with client.open_sftp() as sftp:
            assert name in sftp.listdir(sftp_server.inbox)
            with sftp.open(f"{sftp_server.inbox}/{name}") as remote:
                assert remote.read() == b"probe"
    local.unlink()


def test_settings_hold_this_runs_values(settings: Settings, settings_env: dict[str, str],
                                        run_id: str) -> None:
    assert settings.amqp_prefix == f"intake_{run_id}"
    assert settings.s3_bucket == f"intake-{run_id}"
    assert settings.database_url.get_secret_value() == settings_env["INTAKE_DATABASE_URL"]


# What compose/second-host.yml refuses to start without (host 1's addresses and keys).
SECOND_HOST_ENV = {
    "INTAKE_DATABASE_URL": "postgresql://intake:intake@host1:5432/intake",
    "INTAKE_AMQP_URL": "amqp://intake:intake@host1:5672/",
    "INTAKE_S3_ENDPOINT": "host1:9000",
    "INTAKE_S3_ACCESS_KEY": "intake",
    "INTAKE_S3_SECRET_KEY": "intake-secret",
    "INTAKE_SECRET_KEY": "a-fernet-key",
}


@pytest.mark.parametrize(("compose_file", "env"), [
    ("compose/docker-compose.yml", {}),
    ("compose/second-host.yml", SECOND_HOST_ENV),
])
def test_compose_file_is_valid(compose_file: str, env: dict[str, str]) -> None:
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.skip("docker-compose is missing: scripts/install.sh installs it (as root)")
    result = subprocess.run(
        [docker_compose, "-f", compose_file, "config", "-q"],
        cwd=ROOT, capture_output=True, text=True, check=False, env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr

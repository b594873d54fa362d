"""The servers one bench run uses, started the way the test suite starts them.

PostgreSQL and RabbitMQ are this machine's (or ``INTAKE_TEST_*``); SeaweedFS and a private
sshd run on free ports (tests/servers.py). Every run has its own database, queue prefix,
bucket, SFTP account and work directory, and removes them at the end.
"""

import contextlib
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from tests import servers
from tests.servers import S3Endpoint, SftpServer


@dataclass(frozen=True)
class BenchServers:
    run_id: str
    work: Path  # logs, spool, S3 data, scratch copies
    postgres_admin_url: str  # a role that may create databases
    database_url: str  # the pipeline's own database
    amqp_url: str
    amqp_prefix: str
    s3: S3Endpoint
    sftp: SftpServer
    client_key: Path  # logs in to the SFTP account without a password (OpenSSH, rclone)
    known_hosts: Path
    admin_token: str
    env: dict[str, str]  # INTAKE_* of every service of this run

    @property
    def bucket(self) -> str:
        return self.env["INTAKE_S3_BUCKET"]

    def known_host(self, port: int) -> None:
        """Also trust the SFTP host key on ``port`` (a proxy in front of the server)."""
        with self.known_hosts.open("a") as out:
            out.write(f"[{self.sftp.host}]:{port} {self.sftp.host_key}\n")


def _settings_env(run_id: str, work: Path, database_url: str, amqp_url: str, prefix: str,
                  s3: S3Endpoint, admin_token: str) -> dict[str, str]:
    """What the services read, as the ``pipeline_env`` fixture of tests/conftest.py has it."""
    from services.admin.auth.passwords import hash_password

    return {
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_AMQP_URL": amqp_url,
        "INTAKE_AMQP_PREFIX": prefix,
        "INTAKE_S3_ENDPOINT": s3.endpoint,
        "INTAKE_S3_ACCESS_KEY": s3.access_key,
        "INTAKE_S3_SECRET_KEY": s3.secret_key,
        "INTAKE_S3_BUCKET": f"intake-{run_id}",
        "INTAKE_SECRET_KEY": Fernet.generate_key().decode(),
        "INTAKE_SPOOL_DIR": str(work / "spool"),
        "INTAKE_NOTIFY_QUEUE": f"{prefix}.file_imports",
        "INTAKE_NOTIFY_EXCHANGE": f"{prefix}.ready",
        "INTAKE_LOG_LEVEL": "INFO",
        "INTAKE_ALLOW_DEFAULT_CREDENTIALS": "true",  # this machine's accounts
        "INTAKE_ADMIN_TOKEN": admin_token,
        "INTAKE_ADMIN_PASSWORD_HASH": hash_password(secrets.token_urlsafe(16)),
        "INTAKE_SESSION_SECRET": secrets.token_urlsafe(32),
        "INTAKE_SCAN_TICK_SECONDS": "0.2",
    }


@contextlib.contextmanager
def bench_servers(keep: bool = False,
                  extra_env: dict[str, str] | None = None) -> Iterator[BenchServers]:
    run_id = f"b{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix=f"intake-bench-{run_id}-"))
    try:
        with contextlib.ExitStack() as stack:
            admin_url = stack.enter_context(servers.postgres())
            database_url = stack.enter_context(
                servers.fresh_database(admin_url, f"intake_{run_id}"))
            amqp_url = stack.enter_context(servers.rabbitmq())
            prefix = f"intake_{run_id}"
            stack.callback(servers.delete_amqp_names, amqp_url, prefix)
            s3 = stack.enter_context(servers.s3_server(work / "s3"))
            sftp = stack.enter_context(servers.sftp_server(work / "sftp", f"intake-{run_id}"))
            client_key = _client_key(work, sftp)
            known_hosts = work / "known_hosts"
            known_hosts.write_text(f"[{sftp.host}]:{sftp.port} {sftp.host_key}\n")
            token = secrets.token_urlsafe(32)
            env = {**_settings_env(run_id, work, database_url, amqp_url, prefix, s3, token),
                   **(extra_env or {})}
            yield BenchServers(run_id, work, admin_url, database_url, amqp_url, prefix, s3,
                               sftp, client_key, known_hosts, token, env)
    finally:
        if keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _client_key(work: Path, sftp: SftpServer) -> Path:
    """scripts/sftp-server.sh leaves a client key next to the server's state; for any other
    server, make one and add it to the account's authorized_keys (we run as root)."""
    made_by_script = work / "sftp" / "client_key"
    if made_by_script.exists():
        return made_by_script
    key = work / "client_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",  # noqa: S603, S607
                    "intake-bench", "-f", str(key)], check=True)
    ssh_dir = sftp.home / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    authorized = ssh_dir / "authorized_keys"
    with authorized.open("a") as out:
        out.write(key.with_suffix(".pub").read_text())
    owner = sftp.home.stat()
    for path in (ssh_dir, authorized):
        path.chmod(0o700 if path.is_dir() else 0o600)
        shutil.chown(path, owner.st_uid, owner.st_gid)
    return key

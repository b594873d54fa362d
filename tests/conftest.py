"""Session-wide real servers and the settings of one test run.

Every run, and every pytest-xdist worker of a run, gets its own database, queue prefix,
bucket and SFTP account, so they never see each other's data; where each server comes from
is explained in tests/servers.py.
"""

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from infra.settings import PartnerKeySettings
from tests import servers
from tests.servers import S3Endpoint, SftpServer


@pytest.fixture(scope="session")
def run_id() -> str:
    return f"t{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where locally started servers keep their data and logs for this run."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A role on the run's PostgreSQL server that may create databases."""
    with servers.postgres() as admin_url:
        yield admin_url


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str, run_id: str) -> Iterator[str]:
    with servers.fresh_database(postgres_admin_url, f"intake_{run_id}") as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with servers.rabbitmq() as url:
        yield url


@pytest.fixture(scope="session")
def amqp_prefix(amqp_url: str, run_id: str) -> Iterator[str]:
    prefix = f"intake_{run_id}"
    yield prefix
    servers.delete_amqp_names(amqp_url, prefix)


@pytest.fixture(scope="session")
def s3(state_dir: Path) -> Iterator[S3Endpoint]:
    with servers.s3_server(state_dir / "s3") as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def sftp_server(state_dir: Path, run_id: str) -> Iterator[SftpServer]:
    with servers.sftp_server(state_dir / "sftp", f"intake-{run_id}") as server:
        yield server


@pytest.fixture(scope="session")
def settings_env(database_url: str, amqp_url: str, amqp_prefix: str, s3: S3Endpoint,
                 run_id: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The INTAKE_* environment of this run, as the services read it."""
    return {
        "INTAKE_DATABASE_URL": database_url,
        "INTAKE_AMQP_URL": amqp_url,
        "INTAKE_AMQP_PREFIX": amqp_prefix,
        "INTAKE_S3_ENDPOINT": s3.endpoint,
        "INTAKE_S3_ACCESS_KEY": s3.access_key,
        "INTAKE_S3_SECRET_KEY": s3.secret_key,
        "INTAKE_S3_BUCKET": f"intake-{run_id}",
        "INTAKE_SECRET_KEY": Fernet.generate_key().decode(),
        "INTAKE_SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
        "INTAKE_NOTIFY_QUEUE": f"{amqp_prefix}.file_imports",
        "INTAKE_NOTIFY_EXCHANGE": f"{amqp_prefix}.ready",
        "INTAKE_LOG_LEVEL": "INFO",
        # This machine's PostgreSQL and RabbitMQ accounts, and SeaweedFS's test keys.
        "INTAKE_ALLOW_DEFAULT_CREDENTIALS": "true",
    }


@pytest.fixture(scope="session")
def settings(settings_env: dict[str, str]) -> PartnerKeySettings:
    """This run's settings, the Fernet key included (the tests write partners' credentials)."""
    # model_validate skips the environment: only this run's values and the defaults count.
    return PartnerKeySettings.model_validate(
        {key.removeprefix("INTAKE_").lower(): value for key, value in settings_env.items()}
    )


@pytest.fixture(scope="session")
def admin_token() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def admin_password() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="session")
def pipeline_env(settings_env: dict[str, str], admin_token: str,
                 admin_password: str) -> dict[str, str]:
    """Environment for running every service as a process, the admin's credentials included."""
    from services.admin.auth.passwords import hash_password

    return {
        **settings_env,
        "INTAKE_ADMIN_TOKEN": admin_token,
        "INTAKE_ADMIN_PASSWORD_HASH": hash_password(admin_password),
        "INTAKE_SESSION_SECRET": secrets.token_urlsafe(32),
        "INTAKE_SCAN_TICK_SECONDS": "0.2",
    }

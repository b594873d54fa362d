"""``python -m services migrate``, and services that only check the schema at start
(``INTAKE_MIGRATE_ON_START=false``: their database role may not change it)."""

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from infra.postgres import SchemaBehind, required_version
from services.admin.main import create_app
from services.admin.settings import AdminSettings
from tests import servers
from tests.processes import ServiceProcess, free_port, wait_for

MIGRATIONS = Path(__file__).resolve().parents[2] / "infra" / "migrations"
BEHIND = (f"database schema is at version 0, this build needs {required_version()}:"
          " run `python -m services migrate`")


@pytest.fixture
def empty_database(postgres_admin_url: str, run_id: str) -> Iterator[str]:
    name = f"intake_{run_id}_{secrets.token_hex(3)}"
    with servers.fresh_database(postgres_admin_url, name) as url:
        yield url


def run_migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    """The command with no other setting than the database: that is all a migrate Job gets."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INTAKE_")}
    return subprocess.run(
        [sys.executable, "-m", "services", "migrate"],
        env={**env, "INTAKE_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_migrate_creates_the_schema_once(empty_database: str) -> None:
    first = run_migrate(empty_database)
    assert first.returncode == 0, first.stderr
    assert "0001_initial.sql" in first.stdout

    again = run_migrate(empty_database)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"database schema at version {required_version()}; applied: nothing"
    )
    with psycopg.connect(empty_database) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        )}
        versions = conn.execute("SELECT max(version), count(*) FROM schema_migrations").fetchone()
    assert {"servers", "files", "file_events", "schema_migrations"} <= tables
    assert versions is not None
    assert versions[0] == required_version()
    assert versions[1] == len(list(MIGRATIONS.glob("*.sql")))


def test_migrate_names_an_unreachable_database_in_one_line() -> None:
    result = run_migrate(f"postgresql://intake@127.0.0.1:{free_port()}/intake")
    assert result.returncode == 1
    assert result.stdout == ""
    line, = result.stderr.splitlines()
    assert line.startswith("error: cannot connect to the database: ")


def test_a_pipeline_service_refuses_an_unmigrated_schema(
        empty_database: str, settings_env: dict[str, str], tmp_path: Path) -> None:
    notifier = ServiceProcess("notifier", {
        **settings_env, "INTAKE_DATABASE_URL": empty_database, "INTAKE_MIGRATE_ON_START": "false",
    }, tmp_path).start()
    assert notifier.process is not None
    try:
        code = notifier.process.wait(60)
    finally:
        notifier.stop()
    assert code != 0
    assert BEHIND in notifier.log_tail()


def test_the_admin_refuses_an_unmigrated_schema_until_it_is_migrated(
        empty_database: str, admin_settings: AdminSettings) -> None:
    settings = admin_settings.model_copy(update={
        "database_url": SecretStr(empty_database), "migrate_on_start": False,
    })
    with pytest.raises(ExceptionGroup) as refused, TestClient(app=create_app(settings)):
        pass
    assert refused.group_contains(SchemaBehind, match=f"^{re.escape(BEHIND)}$")

    assert run_migrate(empty_database).returncode == 0
    with TestClient(app=create_app(settings)) as client:
        wait_for(lambda: client.get("/readyz").status_code == 200, timeout=10, what="/readyz")

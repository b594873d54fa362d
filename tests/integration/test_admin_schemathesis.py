"""Property-based tests of the API against its own OpenAPI document (schemathesis).

The admin runs as a process on a database of its own: the servers schemathesis makes up
(any host name) must never be polled by a discovery of this test run.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from psycopg import sql
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.conftest import AdminCredentials
from tests.processes import ServiceProcess

EXAMPLES = 30


@pytest.fixture(scope="module")
def schema_admin(settings_env: dict[str, str], admin_credentials: AdminCredentials,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    base, _, name = settings_env["INTAKE_DATABASE_URL"].rpartition("/")
    own = f"{name}_schema"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(own)))
    env = {**settings_env, **admin_credentials.env(), "INTAKE_DATABASE_URL": f"{base}/{own}",
           "INTAKE_LOG_LEVEL": "WARNING"}
    service = ServiceProcess("admin", env, tmp_path_factory.mktemp("schemathesis"))
    try:
        service.start().wait_ready()
        yield service
    finally:
        service.stop()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(own)))


def test_api_conforms_to_its_schema(schema_admin: ServiceProcess,
                                    admin_credentials: AdminCredentials) -> None:
    """No 5xx, every answer documented and matching its schema, auth enforced (schemathesis
    also sends each request without the token and expects a refusal).

    Not checked: that every schema-valid body is accepted. Host keys and private keys are
    checked beyond what JSON Schema can say (base64 that must decode to an SSH key of the
    named type), so generated ones are rightly refused with 400.
    """
    auth = {"Authorization": f"Bearer {admin_credentials.token}"}
    schema = schemathesis.openapi.from_url(f"{schema_admin.url}/schema/openapi.json",
                                           headers=auth)
    # The connection test would dial whatever host a generated server names.
    schema = schema.exclude(path_regex=r"/test$")
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def check(case: Any) -> None:
            case.call_and_validate(headers=auth, timeout=30,
                                   excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
        tested += 1
    assert tested >= 10
    assert not failures, "\n\n".join(failures)


def test_no_server_error_was_logged(schema_admin: ServiceProcess) -> None:
    log = Path(schema_admin.log_path).read_text(errors="replace")
    assert "unhandled error" not in log, log[-3000:]

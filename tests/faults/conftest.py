import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.proxy import FaultProxy
from tests.harness import Journal, register_server
from tests.leftovers import retire_earlier_tests
from tests.processes import Pipeline

# Short leases, a busy reconciler and a quick outbox relay so recovery happens within a
# test's patience.
FAST_RECOVERY = {
    "INTAKE_LEASE_SECONDS": "10",
    "INTAKE_SCAN_LEASE_SECONDS": "5",
    "INTAKE_RECONCILE_INTERVAL_SECONDS": "1",
    "INTAKE_REDRIVE_AFTER_SECONDS": "15",
    "INTAKE_JANITOR_INTERVAL_SECONDS": "5",
    "INTAKE_SPOOL_HEARTBEAT_SECONDS": "1",
    "INTAKE_SPOOL_LOST_AFTER_SECONDS": "8",
    "INTAKE_OUTBOX_GRACE_SECONDS": "3",
    "INTAKE_SESSION_SLOT_LEASE_SECONDS": "8",  # a killed downloader's sessions
}


@pytest.fixture
def start_pipeline(pipeline_env, tmp_path) -> Iterator[Callable[..., Pipeline]]:
    """Start the five services with extra settings (``service_env``: of single services);
    all are stopped at the end of the test."""
    with _pipelines(pipeline_env, tmp_path) as start:
        yield lambda service_env=None, **env: start(None, service_env=service_env, **env)


@pytest.fixture
def start_pipeline_replicas(pipeline_env, tmp_path) -> Iterator[Callable[..., Pipeline]]:
    """Like ``start_pipeline``, with a replica count per service."""
    with _pipelines(pipeline_env, tmp_path) as start:
        yield start


@contextlib.contextmanager
def _pipelines(pipeline_env: dict[str, str], tmp_path: Path):
    retire_earlier_tests(pipeline_env["INTAKE_DATABASE_URL"])
    started: list[Pipeline] = []

    def start(replicas: dict[str, int] | None, *,
              service_env: dict[str, dict[str, str]] | None = None, **env: str) -> Pipeline:
        pipeline = Pipeline({**pipeline_env, **FAST_RECOVERY, **env},
                            tmp_path / f"logs-{len(started)}", replicas, service_env)
        started.append(pipeline)
        return pipeline.start()

    try:
        yield start
    finally:
        for pipeline in started:
            pipeline.stop()
            print(pipeline.logs())


@pytest.fixture
def sftp_proxy(sftp_server) -> Iterator[FaultProxy]:
    with FaultProxy(sftp_server.host, sftp_server.port) as proxy:
        yield proxy


@pytest.fixture
def name() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def watch(sftp_server, database_url, admin_token, name) -> Iterator[Callable[..., Journal]]:
    """``watch(pipeline, remote_dir, **server)`` registers the run's sshd with a started
    pipeline (under the test's name) and returns the journal of that server's files."""
    journals: list[Journal] = []

    def register(pipeline: Pipeline, remote_dir: str, **overrides: object) -> Journal:
        server = register_server(pipeline["admin"].url, sftp_server, name=name,
                                 remote_dir=remote_dir, token=admin_token, **overrides)
        journals.append(Journal(database_url, server["id"]))
        return journals[-1]

    yield register
    for journal in journals:
        journal.close()

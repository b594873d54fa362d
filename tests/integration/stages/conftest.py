"""Fixtures for the pipeline stages' in-process tests: each handler is called directly
with real dependencies (the run's PostgreSQL, S3 and sshd) and a recording publisher, which
the stages' outbox publishes to.

A test's server row is disabled, so no discovery of this run (the e2e and fault tests
share the database) scans its inbox; afterwards its files still in flight are failed, so
no reconciler there re-drives them.
"""

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import FileDiscovered
from infra import file_states
from infra.crypto import SecretBox
from infra.file_states import FileWithServer
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.settings import Settings
from infra.sftp.pool import SessionPool
from infra.sftp.slots import SessionSlots
from infra.spool.registry import SpoolWatch, beat
from infra.telemetry import StageMetrics
from services.downloader.handlers import DownloaderDeps
from services.downloader.settings import DownloaderSettings
from tests.harness import make_inbox
from tests.integration.outbox_rows import take_outbox
from tests.integration.recording import RecordingPublisher
from tests.leftovers import fail_unfinished
from tests.servers import SftpServer


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def outbox(pool: Pool, publisher: RecordingPublisher) -> AsyncIterator[Outbox]:
    """At the end it forgets the rows of what it sent, as a service does within moments."""
    box = Outbox(pool, publisher, grace_seconds=60)  # type: ignore[arg-type]
    yield box
    await box.forget_sent()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> StageMetrics:
    return StageMetrics(registry)


def transitions(registry: CollectorRegistry, event: str) -> float | None:
    """How many ``event`` state changes the stage's metrics counted."""
    return registry.get_sample_value("intake_file_transitions_total", {"event": event})


def failures(registry: CollectorRegistry, stage: str,
             reason: str) -> tuple[float | None, float | None]:
    """How many failed attempts of ``stage`` the metrics counted with ``reason``, and how
    many of those were scheduled to be tried again."""
    labels = {"stage": stage, "reason": reason}
    return (registry.get_sample_value("intake_stage_failures_total", labels),
            registry.get_sample_value("intake_stage_retries_total", labels))


@pytest.fixture
def stage_settings(settings: Settings, tmp_path: Path) -> dict[str, Any]:
    """The run's settings with a spool of the test's own (its id in ``spool_id``), for a
    service's settings class."""
    spool = tmp_path / "spool"
    spool.mkdir()
    return {**settings.model_dump(), "spool_dir": spool,
            "spool_id": f"st-{uuid.uuid4().hex[:10]}"}


@pytest.fixture(autouse=True)
async def live_spool(pool: Pool, stage_settings: dict[str, Any]) -> str:
    """The test's spool shows life, as if its uploader were beating."""
    await beat(pool, stage_settings["spool_id"])
    return stage_settings["spool_id"]


def spool_watch(pool: Pool, spool_id: str) -> SpoolWatch:
    return SpoolWatch(pool, spool_id, lost_after=60, every=10)


@pytest.fixture
def downloader_deps(pool: Pool, publisher: RecordingPublisher, outbox: Outbox,
                    metrics: StageMetrics, sessions: SessionPool,
                    stage_settings: dict[str, Any]) -> Callable[..., DownloaderDeps]:
    """``downloader_deps(**settings)``: the downloader's dependencies, some settings changed."""
    def make(**overrides: Any) -> DownloaderDeps:
        settings = DownloaderSettings.model_validate({**stage_settings, **overrides})
        return DownloaderDeps(pool=pool, publisher=publisher, outbox=outbox, settings=settings,
                              metrics=metrics, sessions=sessions, spool_id=settings.spool_id,
                              spool_watch=spool_watch(pool, settings.spool_id),
                              box=SecretBox(settings.secret_key))
    return make


@pytest.fixture
async def sessions(pool: Pool) -> AsyncIterator[SessionPool]:
    sessions = SessionPool(SessionSlots(pool, lease_seconds=30), connect_timeout=10,
                           io_timeout=10, idle_seconds=10, wait_seconds=10)
    yield sessions
    await sessions.close()


@pytest.fixture
def inbox(sftp_server: SftpServer) -> tuple[str, Path]:
    """A directory of the test's own on the SFTP account: (remote path, local path)."""
    return make_inbox(sftp_server, f"stage-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def partner(pool: Pool, settings: Settings, sftp_server: SftpServer,
                  inbox: tuple[str, Path]) -> AsyncIterator[Callable[..., Any]]:
    """Registers the run's sshd as a (disabled) partner server; ``await partner(port=...)``
    returns its row."""
    ids: list[int] = []

    async def register(**overrides: Any) -> dict[str, Any]:
        values = {
            "name": f"st-{uuid.uuid4().hex[:10]}", "host": sftp_server.host,
            "port": sftp_server.port, "username": sftp_server.username,
            "password_enc": SecretBox(settings.secret_key).encrypt(sftp_server.password),
            "remote_dir": inbox[0], "min_file_age_s": 0, "host_key": sftp_server.host_key,
            "enabled": False, **overrides,
        }
        row = await insert(pool, "servers", values)
        ids.append(row["id"])
        return row

    yield register
    await fail_unfinished(pool, ids, left_by="a stage test")


async def insert(pool: Pool, table: str, values: dict[str, Any]) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"INSERT INTO {table} ({', '.join(values)})"
            f" VALUES ({', '.join(['%s'] * len(values))}) RETURNING *",
            list(values.values()))
        row = await cur.fetchone()
    assert row is not None
    return row


async def discover(pool: Pool, server: dict[str, Any], local: Path,
                   name: str) -> FileDiscovered:
    """Record ``local / name`` as discovery would (a files row and its ``discovered``
    event) and return the message it would send (and forget from the outbox)."""
    stat = (local / name).stat()
    remote_path = f"{server['remote_dir']}/{name}"
    async with pool.connection() as conn:
        [row], _ = await file_states.record_discovered(
            conn, server_id=server["id"], server_name=server["name"], paths=[remote_path],
            sizes=[stat.st_size], mtimes=[int(stat.st_mtime)])
    await take_outbox(pool, row.id)
    return FileDiscovered(file_id=row.id, server_id=server["id"],
                          remote_path=remote_path, size=stat.st_size)


async def add_file(pool: Pool, server: dict[str, Any], *, status: str, size: int,
                   **columns: Any) -> FileWithServer:
    """A files row of ``server`` already at ``status`` (with the columns the stages before
    it wrote), as the file_states functions return it."""
    values = {"server_id": server["id"], "remote_path": f"/in/{uuid.uuid4().hex}/data.bin",
              "filename": "data.bin", "size": size, "remote_mtime": 1_700_000_000,
              "status": status, **columns}
    row = await insert(pool, "files", values)
    found = await file_states.get(pool, row["id"])
    assert found is not None
    return found


async def events(pool: Pool, file_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s ORDER BY id",
            (file_id,))
        return [(row["event"], row["details"]) for row in await cur.fetchall()]

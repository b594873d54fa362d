"""Live progress of big transfers: a large file downloaded slowly (its parts streamed to the
bucket meanwhile) shows its bytes, rate and ETA in ``GET /api/files/{id}`` and both its
transfers in ``/api/stats`` while they run, with one write per interval at most, and
nothing once it is stored; a multipart upload after the download shows its own."""

import asyncio
import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contracts import FileDownloaded, FileDownloading
from infra import file_states
from infra.postgres import Pool
from infra.storage import ObjectStore
from services.downloader.handlers import download_discovered
from services.uploader.handlers import UploaderDeps, stream_downloading, upload_downloaded
from services.uploader.settings import UploaderSettings
from tests.faults.proxy import FaultProxy
from tests.harness import write_random
from tests.integration.stages.conftest import add_file, discover

MiB = 1024 * 1024
SIZE = 32 * MiB
EVERY = 0.5  # INTAKE_PROGRESS_SECONDS of these tests
LARGE = {"stream_upload_min_bytes": 8 * MiB, "progress_seconds": EVERY}


@pytest.fixture
async def samples(pool: Pool) -> Any:
    """Every write to ``transfer_progress`` from here on, recorded by a trigger; call it
    with a file id for that file's ``(stage, bytes_done)`` writes."""
    async with pool.connection() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS progress_samples"
                           " (file_id uuid, stage text, bytes_done bigint)")
        await conn.execute(
            "CREATE OR REPLACE FUNCTION record_progress_sample() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN INSERT INTO progress_samples"
            " VALUES (NEW.file_id, NEW.stage, NEW.bytes_done); RETURN NEW; END $$")
        await conn.execute(
            "CREATE OR REPLACE TRIGGER progress_samples AFTER INSERT OR UPDATE"
            " ON transfer_progress FOR EACH ROW EXECUTE FUNCTION record_progress_sample()")

    async def of(file_id: uuid.UUID) -> list[tuple[str, int]]:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT stage, bytes_done FROM progress_samples"
                                     " WHERE file_id = %s", (file_id,))
            return [(row["stage"], row["bytes_done"]) for row in await cur.fetchall()]

    yield of
    async with pool.connection() as conn:
        await conn.execute("DROP TRIGGER progress_samples ON transfer_progress")


@pytest.fixture
def puts():
    with ThreadPoolExecutor(2) as executor:
        yield executor


def uploader(pool, publisher, outbox, metrics, puts, stage_settings,
             **overrides: Any) -> UploaderDeps:
    settings = UploaderSettings.model_validate({**stage_settings, **LARGE, **overrides})
    objects = ObjectStore(settings)
    objects.ensure_bucket()
    return UploaderDeps(pool=pool, publisher=publisher, outbox=outbox, settings=settings,
                        metrics=metrics, spool_id=settings.spool_id, objects=objects, puts=puts)


async def api(client: TestClient[Litestar], path: str) -> Any:
    response = await asyncio.to_thread(client.get, path)
    assert response.status_code == 200, response.text
    return response.json()


async def poll(client: TestClient[Litestar], path: str, until: Any, what: str, *,
               transfer: asyncio.Future[Any], deadline: float = 120) -> Any:
    """``GET path`` until ``until(body)`` gives something (returned), or fail once the
    transfer ended or the deadline passed."""
    end = time.monotonic() + deadline
    while time.monotonic() < end and not transfer.done():
        if found := until(await api(client, path)):
            return found
        await asyncio.sleep(0.05)
    pytest.fail(f"no {what} {'before the transfer ended' if transfer.done() else 'in time'}")


def moving(progress: dict[str, Any] | None, stage: str) -> dict[str, Any] | None:
    """``progress`` if it is of ``stage`` and strictly between nothing and everything."""
    if progress and progress["stage"] == stage and 0 < progress["bytes_done"] < SIZE:
        return progress
    return None


def assert_sane(progress: dict[str, Any], stage: str) -> None:
    assert progress["stage"] == stage and progress["bytes_total"] == SIZE
    rate, eta = progress["bytes_per_second"], progress["eta_seconds"]
    assert 0 < rate < 10 * 1024 * MiB
    assert eta == pytest.approx((SIZE - progress["bytes_done"]) / rate)
    age = datetime.now(UTC) - datetime.fromisoformat(progress["updated_at"])
    assert age.total_seconds() < 3 * EVERY + 5


def assert_bounded(writes: list[tuple[str, int]], stage: str, seconds: float) -> None:
    """At least one write, at most one per interval (and one more), bytes never going
    back."""
    done = [n for s, n in writes if s == stage]
    assert 1 <= len(done) <= seconds / EVERY + 2, (stage, len(done), seconds)
    assert done == sorted(done)


async def test_a_slow_download_and_its_streamed_upload_show_their_progress(
        pool, publisher, outbox, metrics, downloader_deps, puts, partner, inbox, sftp_server,
        stage_settings, client, samples):
    _, local = inbox
    write_random(local / "big.bin", SIZE)
    deps = uploader(pool, publisher, outbox, metrics, puts, stage_settings)
    downloader = downloader_deps(**LARGE)
    with FaultProxy(sftp_server.host, sftp_server.port) as proxy:
        # A download of several seconds: the upload streamed behind it shows between its
        # first part and its last, for several intervals and StatsCache's refreshes.
        proxy.latency = 0.008
        msg = await discover(pool, await partner(port=proxy.port), local, "big.bin")
        started = time.monotonic()
        transfer = asyncio.gather(
            download_discovered(msg, downloader),
            stream_downloading(FileDownloading(file_id=msg.file_id, size=SIZE,
                                               spool=deps.spool_id), deps))
        try:
            seen = await poll(client, f"/api/files/{msg.file_id}",
                              lambda body: moving(body["progress"], "download"),
                              "download in flight", transfer=transfer)
            assert_sane(seen, "download")
            listed = await api(client, f"/api/files?server_id={msg.server_id}")
            assert listed["items"][0]["progress"]["stage"] == "download"

            def both(stats: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
                mine = {t["stage"]: t for t in stats["transfers"]
                        if t["file_id"] == str(msg.file_id)}
                return (mine if "download" in mine and moving(mine.get("upload"), "upload")
                        else None)

            shown = await poll(client, "/api/stats", both, "download and upload in flight",
                               transfer=transfer)
            assert shown["download"]["filename"] == "big.bin"
            assert_sane(shown["upload"], "upload")
        finally:
            await transfer
        seconds = time.monotonic() - started

    [_, downloaded] = publisher.sent
    await upload_downloaded(downloaded[1], deps)

    assert (await file_states.get(pool, msg.file_id)).status == "stored"
    assert (await api(client, f"/api/files/{msg.file_id}"))["progress"] is None
    writes = await samples(msg.file_id)
    assert_bounded(writes, "download", seconds)
    assert_bounded(writes, "upload", seconds)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM transfer_progress"
                                 " WHERE file_id = %s", (msg.file_id,))
        assert (await cur.fetchone())["n"] == 0  # each transfer removed its row


async def test_a_slow_multipart_upload_shows_its_progress(
        pool, publisher, outbox, metrics, puts, partner, stage_settings, settings, client,
        samples):
    """Storage behind a slow link: the parts the upload stage sends after the download. Its
    first sample also removes what a dead process left."""
    left = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO transfer_progress (file_id, stage, bytes_done, bytes_total,"
            " started_at, updated_at, expires_at) VALUES"
            " (%s, 'download', 1, 2, now() - interval '1 h', now() - interval '1 h',"
            "  now() - interval '59 min')", (left,))
    data = os.urandom(SIZE)
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    host, port = settings.s3_endpoint.rsplit(":", 1)
    with FaultProxy(host, int(port)) as proxy:
        deps = uploader(pool, publisher, outbox, metrics, puts, stage_settings,
                        s3_endpoint=f"127.0.0.1:{proxy.port}")
        row = await add_file(pool, await partner(), status="downloaded", size=SIZE,
                             sha256=sha256, md5=md5, spool_id=deps.spool_id)
        deps.settings.spool.complete(row.id).write_bytes(data)
        # Each wave of parallel parts takes a few intervals: progress between 0 and SIZE
        # lasts from the first wave's end to the last's.
        proxy.latency = 0.008
        started = time.monotonic()
        upload = asyncio.create_task(upload_downloaded(FileDownloaded(
            file_id=row.id, size=SIZE, sha256=sha256, md5=md5, spool=deps.spool_id), deps))
        try:
            seen = await poll(client, f"/api/files/{row.id}",
                              lambda body: moving(body["progress"], "upload"),
                              "upload in flight", transfer=upload)
            assert_sane(seen, "upload")
        finally:
            await upload
        seconds = time.monotonic() - started

    assert (await file_states.get(pool, row.id)).status == "stored"
    assert (await api(client, f"/api/files/{row.id}"))["progress"] is None
    assert_bounded(await samples(row.id), "upload", seconds)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT file_id FROM transfer_progress WHERE file_id = ANY(%s)",
                                 ([left, row.id],))
        assert await cur.fetchall() == []

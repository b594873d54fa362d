"""The uploader's handlers in-process, against the run's S3 server, sshd and PostgreSQL:
a downloaded file is stored, verified and announced; a retry skips the identical object;
storage that is down is waited out; a lost spool copy is downloaded again; a replay has no
effect; a large file is streamed to the bucket while it downloads; and a batch's files
each keep their own outcome."""

import asyncio
import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from contracts import (
    DownloadedBatch,
    FileDiscovered,
    FileDownloaded,
    FileDownloading,
    FileStored,
    Stage,
    StoredBatch,
)
from infra import file_states
from infra.file_states import FileWithServer
from infra.object_keys import object_key
from infra.outbox import Outbox
from infra.storage import ObjectStore
from services.discovery.reconciling import redrive_stalled
from services.downloader.handlers import download_discovered
from services.uploader import upload_records
from services.uploader.batches import take_downloaded
from services.uploader.handlers import UploaderDeps, stream_downloading, upload_downloaded
from services.uploader.settings import UploaderSettings
from services.uploader.uploading import store
from tests.faults.proxy import FaultProxy
from tests.harness import sha256_of_object, write_random
from tests.integration.recording import RecordingPublisher
from tests.integration.stages.conftest import (
    add_file,
    discover,
    events,
    transitions,
)

MiB = 1024 * 1024


@pytest.fixture
def puts():
    with ThreadPoolExecutor(4) as executor:
        yield executor


@pytest.fixture
def make_deps(pool, publisher, outbox, metrics, stage_settings, puts):
    def make(**overrides: Any) -> UploaderDeps:
        settings = UploaderSettings.model_validate({**stage_settings, **overrides})
        objects = ObjectStore(settings)
        objects.ensure_bucket()
        return UploaderDeps(pool=pool, publisher=publisher, outbox=outbox, settings=settings,
                            metrics=metrics, spool_id=settings.spool_id, objects=objects,
                            puts=puts)
    return make


async def downloaded(pool, server, deps: UploaderDeps, size: int,
                     **columns: Any) -> tuple[FileWithServer, FileDownloaded]:
    """A file the downloader has put in the uploader's spool and recorded: its row and
    message."""
    data = os.urandom(size)
    sha256, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    row = await add_file(pool, server, status="downloaded", size=size, sha256=sha256,
                         md5=md5, spool_id=deps.spool_id, **columns)
    deps.settings.spool.complete(row.id).write_bytes(data)
    return row, FileDownloaded(file_id=row.id, size=size, sha256=sha256, md5=md5,
                               spool=deps.spool_id)


@pytest.mark.parametrize("size", [0, 10, 200_000])
async def test_a_downloaded_file_is_stored_verified_and_announced(
        size, make_deps, pool, publisher, registry, partner):
    deps = make_deps()
    row, msg = await downloaded(pool, await partner(), deps, size)

    await upload_downloaded(msg, deps)

    stored = await file_states.get(pool, msg.file_id)
    assert stored.status == "stored"
    assert stored.bucket == deps.objects.bucket
    assert stored.object_key == object_key(row)
    assert stored.object_key.endswith(f"/{row.id}/data.bin")
    assert sha256_of_object(deps.objects.client, stored.bucket,
                            stored.object_key) == msg.sha256
    assert publisher.sent == [(Stage.STORED, FileStored(
        file_id=msg.file_id, bucket=deps.objects.bucket, object_key=stored.object_key))]
    assert publisher.message_ids == [f"{msg.file_id}:stored"]
    assert [e for e, _ in await events(pool, msg.file_id)] == ["upload_started", "stored"]
    assert not (deps.settings.spool.complete(msg.file_id)).exists()
    assert transitions(registry, "stored") == 1


async def test_a_retry_skips_the_identical_object(make_deps, pool, publisher, partner):
    deps = make_deps()
    spool = deps.settings.spool
    row, msg = await downloaded(pool, await partner(), deps, 5000, attempts=1)
    await asyncio.to_thread(store, deps.objects, spool.complete(row.id), object_key(row),
                            size=5000, sha256=msg.sha256, md5=msg.md5, retrying=False)

    await upload_downloaded(msg, deps)

    [(_, details)] = [e for e in await events(pool, msg.file_id) if e[0] == "stored"]
    assert details["skipped_identical"] is True
    assert [stage for stage, _ in publisher.sent] == [Stage.STORED]


async def test_storage_down_for_a_while_is_waited_out(make_deps, pool, publisher, partner,
                                                      s3):
    host, port = s3.endpoint.split(":")
    with FaultProxy(host, int(port)) as proxy:
        deps = make_deps(s3_endpoint=f"127.0.0.1:{proxy.port}")
        _, msg = await downloaded(pool, await partner(), deps, 200_000)
        proxy.refuse()
        proxy.drop()

        await upload_downloaded(msg, deps)

        assert (await file_states.get(pool, msg.file_id)).status == "downloaded"
        [(stage, again, delay)] = publisher.delayed
        assert (stage, again) == (Stage.DOWNLOADED, msg) and delay > 0
        proxy.accept()

        await upload_downloaded(again, deps)

    stored = await file_states.get(pool, msg.file_id)
    assert stored.status == "stored"
    assert sha256_of_object(make_deps().objects.client, stored.bucket,
                            stored.object_key) == msg.sha256
    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "upload_started", "upload_failed", "upload_started", "stored"]


async def test_an_upload_longer_than_its_lease_keeps_its_claim(make_deps, pool, publisher,
                                                               metrics, partner, s3):
    """The uploader renews its lease while a slow upload runs, so the reconciler (every
    second here) never hands the file to a second upload."""
    host, port = s3.endpoint.split(":")
    redriven = RecordingPublisher()
    redriven_outbox = Outbox(pool, redriven, grace_seconds=60)  # type: ignore[arg-type]

    async def reconcile() -> None:
        while True:
            await redrive_stalled(pool, redriven, redriven_outbox, metrics, deps.settings,
                                  stale_seconds=15)
            await asyncio.sleep(1)

    with FaultProxy(host, int(port)) as proxy:
        deps = make_deps(s3_endpoint=f"127.0.0.1:{proxy.port}")
        # A lease shorter than the settings allow (10 s at least), so that the test need
        # not outlast ten seconds: model_copy does not validate.
        deps = replace(deps, settings=deps.settings.model_copy(update={"lease_seconds": 3}))
        _, msg = await downloaded(pool, await partner(), deps, 40 * MiB)
        proxy.latency = 0.03  # ~6 s for this upload; the lease is 3 s
        reconciler = asyncio.create_task(reconcile())
        try:
            await upload_downloaded(msg, deps)
        finally:
            reconciler.cancel()

    journal = await events(pool, msg.file_id)
    [stored] = [details for event, details in journal if event == "stored"]
    assert stored["seconds"] > 4, "the upload did not outlast the lease"
    assert [event for event, _ in journal].count("upload_started") == 1
    assert all(message.file_id != msg.file_id for _, message in redriven.sent)


async def test_a_lost_spool_copy_is_downloaded_again(make_deps, pool, publisher, partner):
    deps = make_deps()
    row, msg = await downloaded(pool, await partner(), deps, 100)
    (deps.settings.spool.complete(row.id)).unlink()

    await upload_downloaded(msg, deps)

    lost = await file_states.get(pool, msg.file_id)
    assert (lost.status, lost.spool_id, lost.spool_losses) == ("discovered", None, 1)
    assert publisher.sent == [(Stage.DISCOVERED, FileDiscovered(
        file_id=row.id, server_id=row.server_id, remote_path=row.remote_path,
        size=100))]
    journal = await events(pool, msg.file_id)
    assert [e for e, _ in journal] == ["upload_started", "spool_lost"]
    assert journal[-1][1]["spool"] == deps.spool_id


async def test_a_copy_in_another_spool_is_left_to_that_spool(make_deps, pool, publisher,
                                                             partner):
    """A message about a copy that the row says is elsewhere (a stale one, from before the
    copy was lost and downloaded again on another host) changes nothing."""
    deps = make_deps()
    row, msg = await downloaded(pool, await partner(), deps, 100)
    other = make_deps(spool_id="another-host")

    await upload_downloaded(msg, other)
    await stream_downloading(FileDownloading(file_id=row.id, size=100, spool="another-host"),
                             other)

    assert (await file_states.get(pool, row.id)).status == "downloaded"
    assert await events(pool, row.id) == []
    assert publisher.sent == []


async def test_every_copy_of_a_message_has_one_effect(make_deps, pool, publisher, partner):
    deps = make_deps()
    _, msg = await downloaded(pool, await partner(), deps, 2048)

    await asyncio.gather(*(upload_downloaded(msg, deps) for _ in range(3)))
    await upload_downloaded(msg, deps)  # a replay once it is stored
    await stream_downloading(FileDownloading(file_id=msg.file_id, size=2048,
                                             spool=deps.spool_id), deps)

    assert [e for e, _ in await events(pool, msg.file_id)] == ["upload_started", "stored"]
    assert [stage for stage, _ in publisher.sent] == [Stage.STORED]


async def test_a_large_file_is_uploaded_while_it_downloads(
        make_deps, downloader_deps, pool, publisher, registry, partner, inbox, sftp_server):
    size = 40 * MiB  # five 8 MiB parts
    streamed = {"stream_upload_min_bytes": 16 * MiB}
    deps = make_deps(**streamed)
    _, local = inbox
    digest = write_random(local / "big.bin", size)
    downloader = downloader_deps(**streamed)
    with FaultProxy(sftp_server.host, sftp_server.port) as proxy:
        proxy.latency = 0.002  # a download of a few seconds
        msg = await discover(pool, await partner(port=proxy.port), local, "big.bin")

        await asyncio.gather(download_discovered(msg, downloader),
                             stream_downloading(FileDownloading(
                                 file_id=msg.file_id, size=size, spool=deps.spool_id), deps))

    [announced, done] = publisher.sent
    assert announced == (Stage.DOWNLOADING, FileDownloading(file_id=msg.file_id, size=size,
                                                            spool=deps.spool_id))
    await upload_downloaded(done[1], deps)

    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.sha256) == ("stored", digest)
    client = deps.objects.client
    assert sha256_of_object(client, row.bucket, row.object_key) == digest
    # The streamer sent every part; the upload stage only completed the upload.
    [(_, stored)] = [e for e in await events(pool, msg.file_id) if e[0] == "stored"]
    assert stored["parts_already_stored"] == 5
    assert stored["bytes_sent"] == 0 and stored["mb_per_s"] is None  # no rate made up
    md5 = hashlib.md5((local / "big.bin").read_bytes()).hexdigest()
    assert client.get_object_tags(row.bucket, row.object_key) == {
        "sha256": digest, "md5": md5}
    assert await upload_records.get(pool, msg.file_id) is None
    assert transitions(registry, "streamed") == 1


async def _batch(pool, server, deps: UploaderDeps, count: int) -> DownloadedBatch:
    files = [(await downloaded(pool, server, deps, 500 + i))[1] for i in range(count)]
    return DownloadedBatch(batch_id=uuid.uuid4(), spool=deps.spool_id, files=files)


async def test_a_batch_s_failed_uploads_retry_alone_and_the_stored_go_on_together(
        make_deps, pool, publisher, registry, partner):
    deps = make_deps()
    batch = await _batch(pool, await partner(), deps, 10)
    torn, lost = batch.files[3], batch.files[7]
    deps.settings.spool.complete(torn.file_id).write_bytes(b"not the bytes downloaded")
    deps.settings.spool.complete(lost.file_id).unlink()

    await take_downloaded(batch, deps)

    good = [file for file in batch.files if file not in (torn, lost)]
    stored = [(stage, msg) for stage, msg in publisher.sent if stage == Stage.STORED]
    [(_, announced)] = stored
    assert isinstance(announced, StoredBatch)
    assert sorted(f.file_id for f in announced.files) == sorted(f.file_id for f in good)
    for file in good:
        row = await file_states.get(pool, file.file_id)
        assert row.status == "stored"
        assert sha256_of_object(deps.objects.client, row.bucket, row.object_key) == file.sha256
        assert [e for e, _ in await events(pool, file.file_id)] == ["upload_started", "stored"]
        assert not deps.settings.spool.complete(file.file_id).exists()
    [(stage, retry, delay)] = publisher.delayed
    assert (stage, retry) == (Stage.DOWNLOADED, torn) and delay > 0
    assert (await file_states.get(pool, torn.file_id)).status == "downloaded"
    again = await file_states.get(pool, lost.file_id)
    assert (again.status, again.spool_losses) == ("discovered", 1)
    assert (Stage.DISCOVERED, lost.file_id) in [(s, m.file_id) for s, m in publisher.sent
                                                if s == Stage.DISCOVERED]
    assert transitions(registry, "stored") == 8


async def test_a_redelivered_batch_stores_nothing_twice(make_deps, pool, publisher, partner):
    deps = make_deps()
    batch = await _batch(pool, await partner(), deps, 4)

    await asyncio.gather(take_downloaded(batch, deps), take_downloaded(batch, deps))
    await take_downloaded(batch, deps)  # once every file is stored

    assert [stage for stage, _ in publisher.sent] == [Stage.STORED]
    for file in batch.files:
        assert [e for e, _ in await events(pool, file.file_id)] == ["upload_started", "stored"]

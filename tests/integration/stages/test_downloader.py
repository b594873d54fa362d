"""The downloader's handler in-process, against the run's sshd and PostgreSQL: a file is
copied into the spool and announced; a vanished, changed or unreadable file, a cut
connection, a full spool and duplicate messages each end as they should, alone or in a
batch; a failed file whose spool copy expired is downloaded again when retried."""

import asyncio
import dataclasses
import hashlib
import socket
import uuid

import pytest

from contracts import DiscoveredBatch, DownloadedBatch, FileDownloaded, Stage
from infra import file_states
from infra.file_states import Claim, Status
from infra.sftp.pool import SessionPool
from infra.sftp.slots import SessionSlots
from services.admin.files.retrying import retry_file
from services.downloader.batches import take_discovered
from services.downloader.handlers import download_discovered
from services.downloader.janitor import sweep
from tests.faults.proxy import FaultProxy
from tests.harness import write_random
from tests.integration.stages.conftest import (
    discover,
    events,
    failures,
    transitions,
)

MiB = 1024 * 1024


@pytest.mark.parametrize("size", [0, 12_345, 3 * MiB])
async def test_a_discovered_file_is_copied_into_the_spool_and_announced(
        size, downloader_deps, pool, publisher, registry, partner, inbox):
    _, local = inbox
    name = "quarterly report – Ünïcödé ß.csv"
    digest = write_random(local / name, size)
    msg = await discover(pool, await partner(), local, name)
    deps = downloader_deps()

    await download_discovered(msg, deps)

    copy = deps.settings.spool.complete(msg.file_id)
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    md5 = hashlib.md5((local / name).read_bytes()).hexdigest()
    assert publisher.sent == [(Stage.DOWNLOADED, FileDownloaded(
        file_id=msg.file_id, size=size, sha256=digest, md5=md5, spool=deps.spool_id))]
    assert publisher.message_ids == [f"{msg.file_id}:downloaded"]
    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.sha256, row.md5) == ("downloaded", digest, md5)
    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "downloaded"]
    assert transitions(registry, "downloaded") == 1


async def test_a_file_deleted_after_listing_becomes_missing(downloader_deps, pool, publisher,
                                                            partner, inbox):
    _, local = inbox
    write_random(local / "fleeting.csv", 500)
    msg = await discover(pool, await partner(), local, "fleeting.csv")
    (local / "fleeting.csv").unlink()

    await download_discovered(msg, downloader_deps())

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "missing"
    assert "no longer exists" in row.error_message
    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "missing"]
    assert publisher.sent == publisher.delayed == []


async def test_a_file_changed_before_its_copy_ends_is_abandoned(downloader_deps, pool, partner,
                                                                inbox):
    """The new version is a new file for discovery, once it is stable."""
    _, local = inbox
    write_random(local / "report.csv", 8 * MiB)
    msg = await discover(pool, await partner(), local, "report.csv")
    write_random(local / "report.csv", 1024)
    deps = downloader_deps()

    await download_discovered(msg, deps)

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "missing"
    assert "changed on the server" in row.error_message
    assert list(deps.settings.spool.root.iterdir()) == []


async def test_a_cut_download_is_retried_and_resumes_from_the_spool(
        downloader_deps, pool, publisher, partner, inbox, sftp_server):
    _, local = inbox
    digest = write_random(local / "big.bin", 24 * MiB)
    with FaultProxy(sftp_server.host, sftp_server.port) as proxy:
        msg = await discover(pool, await partner(port=proxy.port), local, "big.bin")
        proxy.cut_after(10 * MiB)
        deps = downloader_deps()

        await download_discovered(msg, deps)

        assert proxy.cuts == 1
        assert (await file_states.get(pool, msg.file_id)).status == "discovered"
        [(stage, again, delay)] = publisher.delayed
        assert (stage, again) == (Stage.DISCOVERED, msg) and delay > 0
        assert deps.settings.spool.partial(msg.file_id).stat().st_size > 0

        await download_discovered(again, deps)

    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.sha256) == ("downloaded", digest)
    journal = await events(pool, msg.file_id)
    names = [event for event, _ in journal]
    assert names.count("download_failed") == 1
    assert names.count("download_started") == 2
    downloaded = next(details for event, details in journal if event == "downloaded")
    assert downloaded["resumed_from"] > 0


async def test_an_unreadable_file_fails_at_once_with_the_reason(downloader_deps, pool, publisher,
                                                                registry, partner, inbox):
    _, local = inbox
    write_random(local / "secret.csv", 100)
    (local / "secret.csv").chmod(0o000)
    msg = await discover(pool, await partner(), local, "secret.csv")

    await download_discovered(msg, downloader_deps())

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "failed"
    assert "permission denied" in row.error_message
    journal = await events(pool, msg.file_id)
    assert [e for e, _ in journal] == ["discovered", "download_started", "download_failed"]
    assert journal[-1][1]["status"] == "failed"
    assert publisher.delayed == []
    assert failures(registry, "download", "sftp") == (1, None)  # failed, not retried


async def test_a_spool_without_a_live_uploader_takes_no_copy(downloader_deps, pool, publisher,
                                                             partner, inbox):
    """A copy written where no uploader reads it would only be lost: the file waits,
    for this host's uploader or another host, without spending an attempt."""
    _, local = inbox
    write_random(local / "waits.bin", 5000)
    msg = await discover(pool, await partner(), local, "waits.bin")
    deps = downloader_deps()
    async with pool.connection() as conn:
        await conn.execute("UPDATE spools SET seen_at = now() - interval '1 hour' WHERE id = %s",
                           (deps.spool_id,))
        await conn.execute("INSERT INTO spools (id, hostname) VALUES (%s, 'other')",
                           (f"other-{msg.file_id.hex[:8]}",))

    await download_discovered(msg, deps)

    assert publisher.delayed == [(Stage.DISCOVERED, msg, deps.settings.spool_wait_seconds)]
    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.attempts, row.spool_id) == ("discovered", 0, None)
    assert not any(deps.settings.spool.root.iterdir())


async def test_a_full_spool_delays_a_file_without_failing_it(downloader_deps, pool, publisher,
                                                             partner, inbox):
    _, local = inbox
    digest = write_random(local / "waits.bin", 5000)
    msg = await discover(pool, await partner(), local, "waits.bin")

    deps = downloader_deps(spool_reserve_bytes=10**18)  # never enough
    await download_discovered(msg, deps)

    assert publisher.delayed == [(Stage.DISCOVERED, msg, deps.settings.spool_wait_seconds)]
    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.attempts) == ("discovered", 0)

    await download_discovered(msg, downloader_deps(spool_reserve_bytes=0))  # space was freed

    assert (await file_states.get(pool, msg.file_id)).sha256 == digest


async def test_every_copy_of_a_message_has_one_effect(downloader_deps, pool, publisher, partner,
                                                      inbox):
    _, local = inbox
    write_random(local / "once.csv", 2048)
    msg = await discover(pool, await partner(), local, "once.csv")
    deps = downloader_deps()

    await asyncio.gather(*(download_discovered(msg, deps) for _ in range(3)))
    await download_discovered(msg, deps)  # a replay once it is downloaded

    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "downloaded"]
    assert [stage for stage, _ in publisher.sent] == [Stage.DOWNLOADED]
    assert publisher.delayed == []



async def _batch(pool, server, local, names: list[str]) -> DiscoveredBatch:
    files = [await discover(pool, server, local, name) for name in names]
    return DiscoveredBatch(batch_id=uuid.uuid4(), server_id=server["id"], files=files)


async def test_a_batch_s_bad_files_end_alone_and_the_good_ones_go_on_together(
        downloader_deps, pool, publisher, registry, partner, inbox):
    _, local = inbox
    digests = {f"b{i:02d}.edi": write_random(local / f"b{i:02d}.edi", 1000 + i)
               for i in range(12)}
    for name in ("gone.edi", "locked.edi", "growing.edi"):
        write_random(local / name, 700)
    batch = await _batch(pool, await partner(), local, [*digests, "gone.edi", "locked.edi",
                                                        "growing.edi"])
    bad = {file.remote_path.rsplit("/", 1)[1]: file.file_id for file in batch.files[-3:]}
    (local / "gone.edi").unlink()
    (local / "locked.edi").chmod(0o000)
    with (local / "growing.edi").open("ab") as growing:
        growing.write(b"more")
    deps = downloader_deps()

    await take_discovered(batch, deps)

    [(stage, downloaded)] = publisher.sent
    assert stage == Stage.DOWNLOADED and isinstance(downloaded, DownloadedBatch)
    assert downloaded.spool == deps.spool_id
    expected = {file.file_id: digest
                for file, digest in zip(batch.files, digests.values(), strict=False)}
    assert {file.file_id: file.sha256 for file in downloaded.files} == expected
    for file, digest in expected.items():
        copy = deps.settings.spool.complete(file)
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
        assert [e for e, _ in await events(pool, file)] == [
            "discovered", "download_started", "downloaded"]
    gone, locked, growing = [await file_states.get(pool, bad[n])
                             for n in ("gone.edi", "locked.edi", "growing.edi")]
    assert (gone.status, locked.status, growing.status) == ("missing", "failed", "missing")
    assert "no longer exists" in gone.error_message
    assert "permission denied" in locked.error_message
    assert "changed on the server" in growing.error_message
    assert publisher.delayed == []  # nothing to retry: each bad file ended for good
    assert transitions(registry, "downloaded") == 12


async def test_a_batch_that_cannot_reach_its_server_retries_each_file_on_its_own(
        downloader_deps, pool, publisher, registry, partner, inbox):
    _, local = inbox
    for name in ("x.csv", "y.csv"):
        write_random(local / name, 10)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    batch = await _batch(pool, await partner(port=port), local, ["x.csv", "y.csv"])

    await take_discovered(batch, downloader_deps())

    assert publisher.sent == []
    assert sorted((stage, msg.file_id) for stage, msg, _ in publisher.delayed) == sorted(
        (Stage.DISCOVERED, file.file_id) for file in batch.files)
    for file in batch.files:
        row = await file_states.get(pool, file.file_id)
        assert (row.status, row.attempts) == ("discovered", 1)
        assert "cannot reach" in row.error_message
    assert failures(registry, "download", "sftp") == (2, 2)
    assert registry.get_sample_value("intake_in_flight_bytes", {"direction": "in"}) == 0


async def test_a_redelivered_batch_does_nothing_twice(downloader_deps, pool, publisher, partner,
                                                      inbox):
    _, local = inbox
    for name in ("p.csv", "q.csv", "r.csv"):
        write_random(local / name, 300)
    batch = await _batch(pool, await partner(), local, ["p.csv", "q.csv", "r.csv"])
    deps = downloader_deps()

    await asyncio.gather(take_discovered(batch, deps), take_discovered(batch, deps))
    await take_discovered(batch, deps)  # once every file moved on

    [(_, downloaded)] = publisher.sent
    assert len(downloaded.files) == 3
    for file in batch.files:
        assert [e for e, _ in await events(pool, file.file_id)] == [
            "discovered", "download_started", "downloaded"]


async def test_a_failed_file_whose_copy_expired_is_downloaded_again_on_a_retry(
        downloader_deps, pool, publisher, partner, inbox):
    _, local = inbox
    digest = write_random(local / "late.csv", 40_000)
    msg = await discover(pool, await partner(), local, "late.csv")
    deps = downloader_deps()
    await download_discovered(msg, deps)
    # Its upload fails for good; nobody retries it for more than a week.
    storing = await file_states.claim(pool, msg.file_id, Claim(
        expect=Status.DOWNLOADED, to=Status.STORING, lease_seconds=60, event="upload_started",
        from_spool=deps.spool_id))
    await file_states.release(
        pool, msg.file_id, expect=Status.STORING, back_to=Status.DOWNLOADED,
        event="upload_failed", error="bucket refused it", permanent=True, max_attempts=5,
        then=file_states.outgoing_for(storing))
    async with pool.connection() as conn:
        await conn.execute("UPDATE files SET updated_at = now() - interval '8 days'"
                           " WHERE id = %s", (msg.file_id,))
    copy = deps.settings.spool.complete(msg.file_id)
    assert copy.exists()

    assert await sweep(pool, deps.settings.spool, deps.spool_id, failed_keep_days=7) == 1

    assert not copy.exists()
    publisher.sent.clear()
    retried = await retry_file(pool, deps.outbox, deps.settings, msg.file_id, by="test")
    assert retried is not None and retried.to_status == Status.DISCOVERED
    [(stage, again)] = publisher.sent
    assert (stage, again) == (Stage.DISCOVERED, msg)  # from the partner, not the spool

    await download_discovered(again, deps)

    assert (await file_states.get(pool, msg.file_id)).status == "downloaded"
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest
    assert [event for event, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "downloaded", "upload_started", "upload_failed",
        "spool_expired", "retried", "download_started", "downloaded"]


async def test_a_file_and_a_batch_whose_partner_has_no_free_session_wait_unclaimed(
        downloader_deps, pool, publisher, partner, inbox):
    """Every session the partner allows is open elsewhere (another replica): the work goes
    back on its queue, nothing claimed and no attempt spent, and is done once one frees."""
    _, local = inbox
    server = await partner(max_connections=1)
    for name in ("alone.bin", "b1.edi", "b2.edi"):
        write_random(local / name, 5000)
    alone = await discover(pool, server, local, "alone.bin")
    batch = await _batch(pool, server, local, ["b1.edi", "b2.edi"])
    elsewhere = SessionSlots(pool, lease_seconds=30)
    assert await elsewhere.claim(server["id"], "its wait") == 1
    deps = downloader_deps(session_slot_wait_seconds=0.5)
    deps = dataclasses.replace(deps, sessions=SessionPool.for_service(pool, deps.settings))
    try:
        await download_discovered(alone, deps)
        await take_discovered(batch, deps)

        assert publisher.delayed == [(Stage.DISCOVERED, alone, 0.5),
                                     (Stage.DISCOVERED, batch, 0.5)]
        for file_id in [alone.file_id, *(file.file_id for file in batch.files)]:
            row = await file_states.get(pool, file_id)
            assert (row.status, row.attempts) == ("discovered", 0)
        await elsewhere.release(server["id"], 1)

        await download_discovered(alone, deps)
        await take_discovered(batch, deps)
    finally:
        await deps.sessions.close()
    for file_id in [alone.file_id, *(file.file_id for file in batch.files)]:
        assert (await file_states.get(pool, file_id)).status == "downloaded"

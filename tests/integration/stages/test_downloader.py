"""The downloader's handler in-process, against the run's sshd and PostgreSQL: a file is
copied into the spool and announced; a vanished, changed or unreadable file, a cut
connection, a full spool and duplicate messages each end as they should."""

import asyncio
import hashlib
from typing import Any

import pytest

from contracts import FileDownloaded, Stage
from infra import file_states
from infra.crypto import SecretBox
from services.downloader.handlers import DownloaderDeps, download_discovered
from services.downloader.settings import DownloaderSettings
from tests.faults.proxy import FaultProxy
from tests.harness import write_random
from tests.integration.stages.conftest import discover, events, spool_watch, transitions

MiB = 1024 * 1024


@pytest.fixture
def make_deps(pool, publisher, outbox, metrics, sessions, stage_settings):
    def make(**overrides: Any) -> DownloaderDeps:
        settings = DownloaderSettings.model_validate({**stage_settings, **overrides})
        return DownloaderDeps(pool=pool, publisher=publisher, outbox=outbox, settings=settings,
                              metrics=metrics, sessions=sessions, spool_id=settings.spool_id,
                              spool_watch=spool_watch(pool, settings.spool_id),
                              box=SecretBox(settings.secret_key))
    return make


@pytest.mark.parametrize("size", [0, 12_345, 3 * MiB])
async def test_a_discovered_file_is_copied_into_the_spool_and_announced(
        size, make_deps, pool, publisher, registry, partner, inbox):
    _, local = inbox
    name = "quarterly report – Ünïcödé ß.csv"
    digest = write_random(local / name, size)
    msg = await discover(pool, await partner(), local, name)
    deps = make_deps()

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


async def test_a_file_deleted_after_listing_becomes_missing(make_deps, pool, publisher,
                                                            partner, inbox):
    _, local = inbox
    write_random(local / "fleeting.csv", 500)
    msg = await discover(pool, await partner(), local, "fleeting.csv")
    (local / "fleeting.csv").unlink()

    await download_discovered(msg, make_deps())

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "missing"
    assert "no longer exists" in row.error_message
    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "missing"]
    assert publisher.sent == publisher.delayed == []


async def test_a_file_changed_before_its_copy_ends_is_abandoned(make_deps, pool, partner,
                                                                inbox):
    """The new version is a new file for discovery, once it is stable."""
    _, local = inbox
    write_random(local / "report.csv", 8 * MiB)
    msg = await discover(pool, await partner(), local, "report.csv")
    write_random(local / "report.csv", 1024)
    deps = make_deps()

    await download_discovered(msg, deps)

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "missing"
    assert "changed on the server" in row.error_message
    assert list(deps.settings.spool.root.iterdir()) == []


async def test_a_cut_download_is_retried_and_resumes_from_the_spool(
        make_deps, pool, publisher, partner, inbox, sftp_server):
    _, local = inbox
    digest = write_random(local / "big.bin", 24 * MiB)
    with FaultProxy(sftp_server.host, sftp_server.port) as proxy:
        msg = await discover(pool, await partner(port=proxy.port), local, "big.bin")
        proxy.cut_after(10 * MiB)
        deps = make_deps()

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


async def test_an_unreadable_file_fails_at_once_with_the_reason(make_deps, pool, publisher,
                                                                partner, inbox):
    _, local = inbox
    write_random(local / "secret.csv", 100)
    (local / "secret.csv").chmod(0o000)
    msg = await discover(pool, await partner(), local, "secret.csv")

    await download_discovered(msg, make_deps())

    row = await file_states.get(pool, msg.file_id)
    assert row.status == "failed"
    assert "permission denied" in row.error_message
    journal = await events(pool, msg.file_id)
    assert [e for e, _ in journal] == ["discovered", "download_started", "download_failed"]
    assert journal[-1][1]["status"] == "failed"
    assert publisher.delayed == []


async def test_a_spool_without_a_live_uploader_takes_no_copy(make_deps, pool, publisher,
                                                             partner, inbox):
    """A copy written where no uploader reads it would only be lost: the file waits,
    for this host's uploader or another host, without spending an attempt."""
    _, local = inbox
    write_random(local / "waits.bin", 5000)
    msg = await discover(pool, await partner(), local, "waits.bin")
    deps = make_deps()
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


async def test_a_full_spool_delays_a_file_without_failing_it(make_deps, pool, publisher,
                                                             partner, inbox):
    _, local = inbox
    digest = write_random(local / "waits.bin", 5000)
    msg = await discover(pool, await partner(), local, "waits.bin")

    deps = make_deps(spool_reserve_bytes=10**18)  # never enough
    await download_discovered(msg, deps)

    assert publisher.delayed == [(Stage.DISCOVERED, msg, deps.settings.spool_wait_seconds)]
    row = await file_states.get(pool, msg.file_id)
    assert (row.status, row.attempts) == ("discovered", 0)

    await download_discovered(msg, make_deps(spool_reserve_bytes=0))  # space was freed

    assert (await file_states.get(pool, msg.file_id)).sha256 == digest


async def test_every_copy_of_a_message_has_one_effect(make_deps, pool, publisher, partner,
                                                      inbox):
    _, local = inbox
    write_random(local / "once.csv", 2048)
    msg = await discover(pool, await partner(), local, "once.csv")
    deps = make_deps()

    await asyncio.gather(*(download_discovered(msg, deps) for _ in range(3)))
    await download_discovered(msg, deps)  # a replay once it is downloaded

    assert [e for e, _ in await events(pool, msg.file_id)] == [
        "discovered", "download_started", "downloaded"]
    assert [stage for stage, _ in publisher.sent] == [Stage.DOWNLOADED]
    assert publisher.delayed == []


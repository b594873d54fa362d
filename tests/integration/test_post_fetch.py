"""Post-fetch actions against the real sshd: a stored file deleted or moved on its partner by
discovery's scan, journaled; a changed file left alone; failures retried with backoff;
nothing touched before the file is stored."""

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from infra import file_states
from infra.file_states import Claim, Status, remote_actions
from infra.postgres import Pool
from infra.telemetry import StageMetrics
from services.discovery.post_fetch import PostFetch
from services.discovery.settings import DiscoverySettings
from tests.harness import make_inbox
from tests.integration.test_discovery_scanning import add_server, make_scanner, put
from tests.leftovers import fail_unfinished

STORED_AT = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
SPOOL = "post-fetch-tests"


@pytest.fixture
def folder(sftp_server) -> tuple[str, Path]:
    """A fresh remote directory the SFTP account may delete and rename in."""
    name, local = make_inbox(sftp_server, f"post-fetch-{uuid.uuid4().hex[:8]}")
    local.chmod(0o777)
    return name, local


@pytest.fixture
async def partner(pool: Pool, settings, sftp_server) -> AsyncIterator[Callable[..., Any]]:
    """``await partner(remote_dir, ...)``: a server row discovery's own loop never scans
    (disabled), for the test to scan. Afterwards its files still unfinished are failed, so
    that no reconciler of the run's e2e tests (the same database) re-drives them."""
    ids: list[int] = []

    async def register(remote: str, **overrides: Any) -> dict[str, Any]:
        server = await add_server(pool, settings, sftp_server, remote, enabled=False,
                                  **overrides)
        ids.append(server["id"])
        return server

    yield register
    await fail_unfinished(pool, ids, left_by="a post-fetch test")


@pytest.fixture
def discovered(settings, pool, partner, folder) -> Callable[..., Any]:
    """``await discovered(name, content, **server)``: one file put in the folder, a server
    for it, and the file discovered; returns the scanner, the server and the file's id."""
    remote, local = folder

    async def discover_one(name: str, content: bytes,
                           **server: Any) -> tuple[Any, dict[str, Any], uuid.UUID]:
        put(local, name, content)
        row = await partner(remote, **server)
        scanner, _ = make_scanner(settings, pool)
        [file_id] = await discover(scanner, row)
        return scanner, row, file_id

    return discover_one


async def discover(scanner, server, count: int = 1) -> list[uuid.UUID]:
    await scanner.scan(server)
    return await file_ids(scanner._pool, server["id"], count)


async def file_ids(pool: Pool, server_id: int, count: int) -> list[uuid.UUID]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM files WHERE server_id = %s ORDER BY remote_path",
                                 (server_id,))
        ids = [row["id"] for row in await cur.fetchall()]
    assert len(ids) == count
    return ids


async def download(pool: Pool, file_id: uuid.UUID) -> None:
    """discovered → downloading, as the downloader's claim does."""
    assert await file_states.claim(pool, file_id, Claim(
        expect=Status.DISCOVERED, to=Status.DOWNLOADING, lease_seconds=60,
        event="download_started", into_spool=SPOOL))


async def store(pool: Pool, file_id: uuid.UUID) -> None:
    """The file's way from discovered to stored, through the transitions the stages use."""
    await download(pool, file_id)
    assert await file_states.finish(pool, file_id, expect=Status.DOWNLOADING,
                                    to=Status.DOWNLOADED, event="downloaded",
                                    columns={"sha256": "0" * 64, "md5": "0" * 32})
    assert await file_states.claim(pool, file_id, Claim(
        expect=Status.DOWNLOADED, to=Status.STORING, lease_seconds=60, event="upload_started",
        from_spool=SPOOL))
    assert await file_states.finish(pool, file_id, expect=Status.STORING, to=Status.STORED,
                                    event="stored", columns={
                                        "stored_at": STORED_AT, "bucket": "b",
                                        "object_key": f"k/{file_id}", "etag": "e"})


async def notify(pool: Pool, file_id: uuid.UUID) -> None:
    """stored → notified, as the notifier's claim and finish do."""
    assert await file_states.claim(pool, file_id, Claim(
        expect=Status.STORED, to=Status.STORED, lease_seconds=60, event=None))
    assert await file_states.finish(pool, file_id, expect=Status.STORED, to=Status.NOTIFIED,
                                    event="notified", columns={"notified_at": datetime.now(UTC)})


async def row(pool: Pool, file_id: uuid.UUID) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM files WHERE id = %s", (file_id,))
        return await cur.fetchone()


async def remote_events(pool: Pool, file_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s AND event LIKE 'remote%%'"
            " ORDER BY id", (file_id,))
        return [(r["event"], r["details"]) for r in await cur.fetchall()]


async def make_due(pool: Pool, file_id: uuid.UUID) -> None:
    """Pretend the backoff has passed instead of waiting for it."""
    async with pool.connection() as conn:
        await conn.execute("UPDATE files SET remote_action_due_at = now() WHERE id = %s",
                           (file_id,))


async def test_a_stored_file_is_deleted_on_the_partner_and_journaled(
        pool, discovered, folder):
    remote, local = folder
    scanner, server, file_id = await discovered("daily.csv", b"a,b\n1,2\n", post_fetch="delete")
    assert (await row(pool, file_id))["remote_action_state"] == "pending"

    await store(pool, file_id)
    result = await scanner.scan(server)

    assert result.acted == 1
    assert not (local / "daily.csv").exists()
    found = await row(pool, file_id)
    assert (found["status"], found["remote_action_state"]) == ("stored", "done")
    [(event, details)] = await remote_events(pool, file_id)
    assert event == "remote_deleted"
    assert details["path"] == f"{remote}/daily.csv"
    assert (await scanner.scan(server)).acted == 0  # done once


async def test_a_notified_file_is_moved_into_a_dated_archive_under_a_free_name(
        settings, pool, sftp_server, partner, folder):
    remote, local = folder
    put(local, "report.csv", b"new")
    taken = local / "archive" / "2026" / "01" / "02"
    taken.mkdir(parents=True)
    for directory in (taken, *taken.parents):
        if directory == local:
            break
        directory.chmod(0o777)
    put(taken, "report.csv", b"an older report of the same name")
    server = await partner(remote, post_fetch="move",
                           archive_dir="archive/%Y/%m/%d")
    scanner, _ = make_scanner(settings, pool)
    [file_id] = await discover(scanner, server)
    await store(pool, file_id)
    await notify(pool, file_id)

    assert (await scanner.scan(server)).acted == 1

    assert not (local / "report.csv").exists()
    assert (taken / "report.csv").read_bytes() == b"an older report of the same name"
    assert (taken / "report-1.csv").read_bytes() == b"new"
    [(event, details)] = await remote_events(pool, file_id)
    assert (event, details["to"]) == ("remote_moved", f"{remote}/archive/2026/01/02/report-1.csv")
    assert (await row(pool, file_id))["remote_action_state"] == "done"
    # The archive is under the scanned directory, which is not scanned recursively.
    assert (await scanner.scan(server)).listed == 0


async def test_a_missing_archive_directory_is_made_absolute_paths_too(
        settings, pool, sftp_server, partner, folder):
    remote, local = folder
    put(local, "a.txt", b"a")
    put(local, "b.txt", b"b")
    archive = sftp_server.home / f"archive-{uuid.uuid4().hex[:8]}"
    archive.mkdir()
    archive.chmod(0o777)
    server = await partner(remote, post_fetch="move",
                           archive_dir=f"{archive}/%Y-%m/%H%%")
    scanner, _ = make_scanner(settings, pool)
    for file_id in await discover(scanner, server, 2):
        await store(pool, file_id)

    assert (await scanner.scan(server)).acted == 2

    assert sorted(p.name for p in (archive / "2026-01" / "03%").iterdir()) == ["a.txt", "b.txt"]


async def test_a_file_changed_on_the_partner_is_left_alone_with_a_warning(
        pool, discovered, folder, caplog):
    _, local = folder
    scanner, server, file_id = await discovered("grows.log", b"first", post_fetch="delete")
    await store(pool, file_id)
    put(local, "grows.log", b"first and more")
    caplog.set_level(logging.WARNING, logger="intake.files")

    result = await scanner.scan(server)

    assert result.acted == 0
    assert (local / "grows.log").read_bytes() == b"first and more"
    [(event, details)] = await remote_events(pool, file_id)
    assert event == "remote_changed"
    assert details["seen"]["size"] == len(b"first and more")
    assert (await row(pool, file_id))["remote_action_state"] == "changed"
    assert any("changed on the partner" in r.getMessage() for r in caplog.records)
    await make_due(pool, file_id)
    await scanner.scan(server)
    assert len(await remote_events(pool, file_id)) == 1  # never tried again


async def test_a_failed_action_is_retried_with_backoff_then_given_up_and_never_blocks(
        settings, pool, sftp_server, partner, folder):
    remote, local = folder
    put(local, "locked.csv", b"x")
    locked = local / "archive"
    locked.mkdir(mode=0o755)  # root's: the SFTP account may not write into it
    server = await partner(remote, post_fetch="move",
                           archive_dir="archive")
    scanner, _ = make_scanner(settings, pool, remote_action_retry_seconds=30,
                              remote_action_max_attempts=3)
    [file_id] = await discover(scanner, server)
    await store(pool, file_id)

    before = datetime.now(UTC)
    await scanner.scan(server)
    [(event, details)] = await remote_events(pool, file_id)
    assert event == "remote_action_failed"
    assert "permission denied" in details["error"]
    assert (details["attempt"], details["gave_up"]) == (1, False)
    first = await row(pool, file_id)
    assert first["remote_action_state"] == "pending"
    assert first["remote_action_due_at"] >= before + timedelta(seconds=30)

    await scanner.scan(server)  # not due yet
    assert len(await remote_events(pool, file_id)) == 1

    await make_due(pool, file_id)
    before = datetime.now(UTC)
    await scanner.scan(server)
    second = await row(pool, file_id)
    assert second["remote_action_due_at"] >= before + timedelta(seconds=60)  # doubled

    await notify(pool, file_id)  # the failures never held the file back
    await make_due(pool, file_id)
    await scanner.scan(server)
    events = await remote_events(pool, file_id)
    assert [(d["attempt"], d["gave_up"]) for _, d in events] == [(1, False), (2, False),
                                                                  (3, True)]
    given_up = await row(pool, file_id)
    assert (given_up["status"], given_up["remote_action_state"]) == ("notified", "failed")
    assert given_up["remote_action_due_at"] is None
    assert (local / "locked.csv").read_bytes() == b"x"

    locked.chmod(0o777)  # the cause fixed, an operator retries it
    assert await remote_actions.retry(pool, file_id, by="operator")
    assert (await scanner.scan(server)).acted == 1
    assert (locked / "locked.csv").read_bytes() == b"x"
    assert [event for event, _ in await remote_events(pool, file_id)][-2:] == [
        "remote_action_retried", "remote_moved"]


async def test_a_file_already_gone_is_a_failure_tried_again(
        pool, discovered, folder):
    remote, local = folder
    scanner, server, file_id = await discovered("gone.csv", b"x", post_fetch="delete")
    await store(pool, file_id)
    (local / "gone.csv").unlink()

    await scanner.scan(server)

    [(event, details)] = await remote_events(pool, file_id)
    assert event == "remote_action_failed"
    assert details["error"] == f"{remote}/gone.csv is no longer on the server"
    assert (await row(pool, file_id))["remote_action_state"] == "pending"


async def test_keep_leaves_the_file_and_writes_nothing(
        pool, discovered, folder):
    _, local = folder
    scanner, server, file_id = await discovered("kept.csv", b"x")
    assert server["post_fetch"] == "keep"  # the column's default
    await store(pool, file_id)

    assert (await scanner.scan(server)).acted == 0

    assert (local / "kept.csv").exists()
    found = await row(pool, file_id)
    assert (found["remote_action"], found["remote_action_state"]) == (None, None)
    assert await remote_events(pool, file_id) == []


async def test_nothing_is_touched_before_the_file_is_stored(
        settings, pool, sftp_server, partner, folder):
    remote, local = folder
    for name in ("waiting.csv", "downloading.csv", "failed.csv"):
        put(local, name, name.encode())
    server = await partner(remote, post_fetch="delete")
    scanner, _ = make_scanner(settings, pool)
    downloading, failed, waiting = await discover(scanner, server, 3)
    await download(pool, downloading)
    await download(pool, failed)
    assert await file_states.release(
        pool, failed, expect=Status.DOWNLOADING, back_to=Status.DISCOVERED,
        event="download_failed", error="made up", permanent=True, max_attempts=1,
        then=file_states.outgoing_for(await file_states.get(pool, failed)))

    assert (await scanner.scan(server)).acted == 0

    for name in ("waiting.csv", "downloading.csv", "failed.csv"):
        assert (local / name).exists()
    for file_id in (waiting, downloading, failed):
        assert await remote_events(pool, file_id) == []
        assert (await row(pool, file_id))["remote_action_state"] == "pending"
    assert (await row(pool, failed))["status"] == "failed"


@pytest.mark.parametrize(("recursive", "archive", "reason"), [
    (True, "old", "is inside"),
    (False, "", "is the scanned directory"),
], ids=["inside-a-recursive-scan", "the-scanned-directory"])
async def test_an_absolute_archive_the_scan_would_list_is_refused(
        settings, pool, sftp_server, partner, folder, recursive, archive, reason):
    remote, local = folder
    put(local, "a.csv", b"a")
    server = await partner(remote, recursive=recursive, post_fetch="move",
                           archive_dir=f"{sftp_server.home}/{remote}/{archive}".rstrip("/"))
    scanner, _ = make_scanner(settings, pool)
    [file_id] = await discover(scanner, server)
    await store(pool, file_id)

    await scanner.scan(server)

    [(event, details)] = await remote_events(pool, file_id)
    assert event == "remote_action_failed"
    assert reason in details["error"]
    assert "moved files would be found again" in details["error"]
    assert (local / "a.csv").exists()


class LostSession:
    """An SFTP client whose connection dropped: every request fails as paramiko's does."""

    def lstat(self, path: str) -> None:
        raise EOFError


async def test_a_lost_session_ends_the_batch_and_the_rest_waits_for_its_claim(
        settings, pool, sftp_server, partner, folder):
    remote, local = folder
    put(local, "first.csv", b"1")
    put(local, "second.csv", b"2")
    server = await partner(remote, post_fetch="delete")
    scanner, _ = make_scanner(settings, pool)
    first, second = await discover(scanner, server, 2)
    for file_id in (first, second):
        await store(pool, file_id)
    discovery = DiscoverySettings.model_validate(settings.model_dump())

    done = await PostFetch(discovery, pool, StageMetrics(CollectorRegistry())).run(
        server, LostSession())  # type: ignore[arg-type]

    assert done == 0
    journals = {file_id: await remote_events(pool, file_id) for file_id in (first, second)}
    [tried] = [file_id for file_id, events in journals.items() if events]
    [untried] = [file_id for file_id, events in journals.items() if not events]
    [(event, details)] = journals[tried]
    assert event == "remote_action_failed" and "the session was lost" in details["error"]
    waiting = await row(pool, untried)
    assert waiting["remote_action_state"] == "pending"
    assert waiting["remote_action_due_at"] > datetime.now(UTC)  # claimed: due after the lease
    assert (await scanner.scan(server)).acted == 0  # neither is due yet
    assert (local / "first.csv").exists() and (local / "second.csv").exists()

"""The state transitions against PostgreSQL: compare-and-set, each with its journal row and
the outbox row of the message that follows it."""

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage
from infra import file_states
from infra.file_states import Claim, IllegalMove, Status
from infra.outbox import Outgoing
from tests.integration.outbox_rows import take_outbox

DOWNLOAD = Claim(expect=Status.DISCOVERED, to=Status.DOWNLOADING, lease_seconds=60,
                 event="download_started")
ANNOUNCE = Claim(expect=Status.STORED, to=Status.STORED, lease_seconds=60, event=None)


async def _server(pool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO servers (name, host, username) VALUES (%s, 'sftp.example', 'intake')"
            " RETURNING id", (f"states-{uuid.uuid4().hex[:8]}",))
        return (await cur.fetchone())["id"]


async def _file(pool, server_id: int | None, status: Status = Status.DISCOVERED) -> uuid.UUID:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO files (server_id, source, remote_path, filename, size, remote_mtime,"
            " status) VALUES (%s, %s, %s, 'a.csv', 10, 1, %s) RETURNING id",
            (server_id, "sftp" if server_id else "upload", f"/in/{uuid.uuid4()}/a.csv", status))
        return (await cur.fetchone())["id"]


async def _journal(pool, file_id: uuid.UUID) -> list[tuple[str, dict]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s ORDER BY id", (file_id,))
        return [(row["event"], row["details"]) for row in await cur.fetchall()]


async def test_a_claim_journals_its_attempt_and_returns_the_server(pool) -> None:
    server_id = await _server(pool)
    file_id = await _file(pool, server_id)

    row = await file_states.claim(pool, file_id, DOWNLOAD, bucket="b")

    assert row.status == Status.DOWNLOADING and row.attempts == 1
    assert row.server.id == server_id and row.server.host == "sftp.example"
    assert row.server_name == row.server.name
    assert await _journal(pool, file_id) == [
        ("download_started", {"bucket": "b", "attempt": 1, "spool": None})]


async def test_a_held_claim_is_refused_and_journals_nothing(pool) -> None:
    file_id = await _file(pool, await _server(pool))
    await file_states.claim(pool, file_id, DOWNLOAD)

    again = await file_states.claim(pool, file_id, DOWNLOAD)

    assert again is None
    assert [event for event, _ in await _journal(pool, file_id)] == ["download_started"]


async def test_a_lease_only_claim_journals_nothing(pool) -> None:
    file_id = await _file(pool, None, Status.STORED)

    row = await file_states.claim(pool, file_id, ANNOUNCE)

    assert row.lease_until is not None and row.server is None
    assert row.server_name is None
    assert await _journal(pool, file_id) == []


async def test_finish_stores_its_columns_and_only_from_the_expected_state(pool) -> None:
    file_id = await _file(pool, None, Status.DOWNLOADING)
    stored = Outgoing(Stage.STORED, FileStored(file_id=file_id, bucket="b", object_key="k"),
                      f"{file_id}:stored")
    downloaded = FileDownloaded(file_id=file_id, size=10, sha256="ab", md5="cd", spool="s1")

    wrong = await file_states.finish(pool, file_id, expect=Status.STORING, to=Status.STORED,
                                     event="stored", columns={"etag": "x"}, then=stored)
    done = await file_states.finish(
        pool, file_id, expect=Status.DOWNLOADING, to=Status.DOWNLOADED, event="downloaded",
        columns={"sha256": "ab", "md5": "cd"}, size=10,
        then=Outgoing(Stage.DOWNLOADED, downloaded, f"{file_id}:downloaded"))

    assert wrong is None
    assert (done.status, done.sha256, done.md5) == (Status.DOWNLOADED, "ab", "cd")
    assert await _journal(pool, file_id) == [("downloaded", {"size": 10})]
    [queued] = await take_outbox(pool, file_id)
    assert (queued["stage"], queued["message_id"], queued["delay"]) == (
        "downloaded", f"{file_id}:downloaded", None)
    assert FileDownloaded.model_validate(queued["body"]) == downloaded
    with pytest.raises(ValueError, match="not a finishable column"):
        await file_states.finish(pool, file_id, expect=Status.DOWNLOADED, to=Status.STORED,
                                 event="stored", columns={"status": "notified"})


@pytest.mark.parametrize(("permanent", "max_attempts", "status"), [
    (False, 3, Status.DISCOVERED), (True, 3, Status.FAILED), (False, 1, Status.FAILED)])
async def test_release_retries_or_fails_and_says_which(pool, permanent: bool, max_attempts: int,
                                                       status: Status) -> None:
    file_id = await _file(pool, None)
    await file_states.claim(pool, file_id, DOWNLOAD)
    again = FileDiscovered(file_id=file_id, server_id=1, remote_path="/in/a.csv", size=10)

    row = await file_states.release(
        pool, file_id, expect=Status.DOWNLOADING, back_to=Status.DISCOVERED,
        event="download_failed", error="boom", permanent=permanent,
        max_attempts=max_attempts,
        then=Outgoing(Stage.DISCOVERED, again, f"{file_id}:discovered", 2.5))

    assert (row.status, row.error_message, row.lease_until) == (status, "boom", None)
    assert (await _journal(pool, file_id))[-1] == (
        "download_failed", {"error": "boom", "attempt": 1, "status": status})
    queued = await take_outbox(pool, file_id)
    if status == Status.FAILED:  # no retry, no message
        assert queued == []
    else:
        assert [(q["stage"], q["delay"]) for q in queued] == [("discovered", 2.5)]
        assert FileDiscovered.model_validate(queued[0]["body"]) == again


async def test_mark_missing_journals_the_reason(pool) -> None:
    file_id = await _file(pool, None, Status.DOWNLOADING)

    row = await file_states.mark_missing(pool, file_id, expect=Status.DOWNLOADING,
                                         reason="gone")

    assert (row.status, row.error_message) == (Status.MISSING, "gone")
    assert await _journal(pool, file_id) == [("missing", {"reason": "gone"})]
    assert await file_states.mark_missing(pool, file_id, expect=Status.DOWNLOADING,
                                          reason="gone") is None


async def test_a_move_outside_the_transition_table_raises_and_changes_nothing(pool) -> None:
    file_id = await _file(pool, None, Status.DOWNLOADING)

    with pytest.raises(IllegalMove):
        await file_states.finish(pool, file_id, expect=Status.DOWNLOADING, to=Status.NOTIFIED,
                                 event="notified", columns={})
    with pytest.raises(IllegalMove):
        await file_states.mark_missing(pool, file_id, expect=Status.STORED, reason="gone")

    assert (await file_states.get(pool, file_id)).status == Status.DOWNLOADING
    assert await _journal(pool, file_id) == []


async def test_discovered_files_are_recorded_once_with_their_event(pool) -> None:
    server_id = await _server(pool)
    paths = [f"/in/{uuid.uuid4()}/a.csv", f"/in/{uuid.uuid4()}/b.csv"]
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO sightings (server_id, remote_path, size, remote_mtime, first_seen_at,"
            " last_seen_at) VALUES (%s, %s, 5, 7, now(), now())", (server_id, paths[0]))

    async with pool.connection() as conn, conn.transaction():
        new, _ = await file_states.record_discovered(
            conn, server_id=server_id, server_name="partner", paths=paths, sizes=[5, 6],
            mtimes=[7, 8])
    async with pool.connection() as conn, conn.transaction():
        again, _ = await file_states.record_discovered(
            conn, server_id=server_id, server_name="partner", paths=paths, sizes=[5, 6],
            mtimes=[7, 8])
        cur = await conn.execute("SELECT count(*) AS n FROM sightings WHERE server_id = %s",
                                 (server_id,))
        sightings = (await cur.fetchone())["n"]

    assert [(n.remote_path, n.size, n.remote_mtime) for n in new] == [(paths[0], 5, 7),
                                                                      (paths[1], 6, 8)]
    assert again == [] and sightings == 0
    for n in new:  # each with its message, once
        [queued] = await take_outbox(pool, n.id)
        assert FileDiscovered.model_validate(queued["body"]) == FileDiscovered(
            file_id=n.id, server_id=server_id, remote_path=n.remote_path, size=n.size)
        assert (queued["stage"], queued["message_id"]) == ("discovered", f"{n.id}:discovered")
    row = await file_states.get(pool, new[0].id)
    assert (row.status, row.filename, row.server.id) == (Status.DISCOVERED, "a.csv", server_id)
    assert await _journal(pool, new[0].id) == [
        ("discovered", {"server": "partner", "size": 5, "remote_mtime": 7})]


async def test_an_upload_is_recorded_stored_with_its_event(pool) -> None:
    file_id = uuid.uuid4()
    created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    stored = FileStored(file_id=file_id, bucket="b", object_key="upload/k")

    row = await file_states.record_upload(
        pool, file_id=file_id, remote_path="../x.csv", filename="x.csv", size=3,
        sha256="ab", md5="cd", bucket="b", object_key="upload/k", etag="cd",
        created_at=created_at, details={"size": 3},
        then=Outgoing(Stage.STORED, stored, f"{file_id}:stored"))

    assert (row.id, row.status, row.source, row.server_id) == (
        file_id, Status.STORED, "upload", None)
    assert (row.bucket, row.object_key, row.etag, row.created_at) == (
        "b", "upload/k", "cd", created_at)
    assert row.stored_at is not None and (row.sha256, row.md5) == ("ab", "cd")
    assert await _journal(pool, file_id) == [("uploaded", {"size": 3})]
    [queued] = await take_outbox(pool, file_id)
    assert FileStored.model_validate(queued["body"]) == stored


async def test_a_restart_moves_only_from_the_status_seen_and_journals_who(pool) -> None:
    file_id = await _file(pool, await _server(pool), Status.FAILED)
    move = file_states.Restart(file_id, Status.FAILED, Status.DISCOVERED)

    (row,) = await file_states.restart(pool, [move], by="admin")
    again = await file_states.restart(pool, [move], by="admin")

    assert (row.id, row.status, row.attempts) == (file_id, Status.DISCOVERED, 0)
    assert again == []
    [queued] = await take_outbox(pool, file_id)  # the one move's message, not the refused one
    assert FileDiscovered.model_validate(queued["body"]).file_id == file_id
    assert await _journal(pool, file_id) == [
        ("retried", {"from_status": "failed", "to_status": "discovered", "by": "admin"})]
    with pytest.raises(IllegalMove):
        await file_states.restart(
            pool, [file_states.Restart(file_id, Status.DISCOVERED, Status.STORED)], by="admin")


async def test_a_stage_s_finish_restarts_the_count_and_a_file_at_rest_keeps_it(pool) -> None:
    """The next stage starts from 0 attempts; a notified file shows its last stage's
    attempts, the number its journal gives."""
    file_id = await _file(pool, None, Status.STORED)
    claimed = await file_states.claim(pool, file_id, ANNOUNCE)
    notified = await file_states.finish(pool, file_id, expect=Status.STORED,
                                        to=Status.NOTIFIED, event="notified",
                                        columns={"notified_at": datetime.now(UTC)})
    assert claimed.attempts == notified.attempts == 1
    downloading = await _file(pool, None, Status.DOWNLOADING)
    async with pool.connection() as conn:
        await conn.execute("UPDATE files SET attempts = 2 WHERE id = %s", (downloading,))
    done = await file_states.finish(pool, downloading, expect=Status.DOWNLOADING,
                                    to=Status.DOWNLOADED, event="downloaded",
                                    columns={"sha256": "ab", "md5": "cd"})
    assert done.attempts == 0


async def test_only_the_claim_that_connects_carries_the_credentials(pool) -> None:
    server_id = await _server(pool)
    async with pool.connection() as conn:
        await conn.execute("UPDATE servers SET password_enc = 'sealed' WHERE id = %s",
                           (server_id,))
    first, second = [await _file(pool, server_id) for _ in range(2)]
    download = await file_states.claim(pool, first,
                                       dataclasses.replace(DOWNLOAD, credentials=True))
    other = await file_states.claim(pool, second, DOWNLOAD)
    assert download.server.password_enc == "sealed"
    assert other.server.password_enc is None and other.server.name == download.server.name
    assert (await file_states.get(pool, download.id)).server.password_enc is None

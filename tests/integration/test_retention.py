"""The retention pass against the run's PostgreSQL: journals of files long at rest trimmed
in batches to one summary event, unfinished files' kept; old notified files summarized with
the console's totals unchanged, and not discovered again while their server still lists
them; one replica's pass at a time; 0 keeps everything.

The files here rest for 400 days and the ages are 300: no other test of the run makes a
file rest that long, so their rows stay out of reach of these passes.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from infra import file_states, retention
from infra.postgres import Pool
from infra.retention import Policy, Swept
from infra.settings import Settings
from services.admin.dashboard import queries as dashboard
from services.admin.servers.queries import remove_server
from services.discovery import queries
from services.discovery.settings import DiscoverySettings

AGE_DAYS = 300
LONG_AGO = timedelta(days=400)


def policy(**overrides: Any) -> Policy:
    return Policy(**{"events_days": AGE_DAYS, "notified_days": 0, "batch_files": 500,
                     "pause_seconds": 0, **overrides})


@pytest.fixture
async def server(pool: Pool) -> AsyncIterator[int]:
    """A disabled server of the test's own; afterwards its files and totals go with it, out
    of the next test's passes' reach. The journal's walk starts from the beginning."""
    async with pool.connection() as conn:
        await conn.execute("UPDATE retention_marks SET updated_at = '-infinity'"
                           " WHERE name = 'journal'")
        cur = await conn.execute(
            "INSERT INTO servers (name, host, username, enabled) VALUES (%s, '127.0.0.1',"
            " 'u', false) RETURNING id", (f"ret-{uuid.uuid4().hex[:10]}",))
        server_id = (await cur.fetchone())["id"]
    yield server_id
    async with pool.connection() as conn:
        for table in ("files", "file_totals", "sightings", "servers"):
            column = "id" if table == "servers" else "server_id"
            await conn.execute(f"DELETE FROM {table} WHERE {column} = %s", (server_id,))


async def _file(pool: Pool, server_id: int, status: str, *, rested: timedelta,
                events: list[str], created: timedelta | None = None, size: int = 100,
                **columns: Any) -> uuid.UUID:
    """A files row at ``status`` since ``rested`` ago, with ``events`` in its journal."""
    values = {"server_id": server_id, "remote_path": f"/ret/{uuid.uuid4()}", "filename": "r",
              "size": size, "remote_mtime": 1, "status": status, **columns}
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"INSERT INTO files ({', '.join(values)}, created_at, updated_at)"
            f" VALUES ({', '.join(['%s'] * len(values))}, now() - %s, now() - %s)"
            " RETURNING id", [*values.values(), created or rested, rested])
        file_id = (await cur.fetchone())["id"]
        for event in events:
            await conn.execute(
                "INSERT INTO file_events (file_id, event, at) VALUES (%s, %s, now() - %s)",
                (file_id, event, rested))
    return file_id


async def _events(pool: Pool, file_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT event, details FROM file_events WHERE file_id = %s ORDER BY id", (file_id,))
        return [(row["event"], row["details"]) for row in await cur.fetchall()]


HAPPY = ["discovered", "download_started", "downloaded", "upload_started", "stored",
         "notified"]


async def test_the_journals_of_files_long_at_rest_are_trimmed_in_batches(pool, server) -> None:
    at_rest = [await _file(pool, server, status, rested=LONG_AGO, events=events)
               for status, events in [
                   ("notified", HAPPY), ("notified", HAPPY),
                   ("failed", ["discovered", "download_started", "download_failed"]),
                   ("missing", ["discovered", "download_started", "missing"])]]
    # Retried after a first trim, and at rest again as long: trimmed a second time.
    again = await _file(pool, server, "failed", rested=LONG_AGO,
                        events=["journal_trimmed", "retried", "download_failed"])
    kept = {
        "recent": await _file(pool, server, "notified", rested=timedelta(days=10),
                              events=HAPPY),
        # Discovered long ago, failed recently: at rest for less than the age.
        "failed lately": await _file(pool, server, "failed", rested=timedelta(days=1),
                                     created=LONG_AGO, events=["discovered"]),
        # Not finished, however old.
        "unfinished": await _file(pool, server, "stored", rested=LONG_AGO,
                                  events=HAPPY[:5]),
    }
    kept_journals = {name: await _events(pool, file_id) for name, file_id in kept.items()}

    async with pool.connection() as conn:
        first = await file_states.trim_batch(conn, older_than_days=AGE_DAYS, limit=2)
    assert first == (2, 12)  # the two oldest-updated: the notified ones, 6 events each
    swept = await retention.run_pass(pool, policy(batch_files=2))

    assert swept == Swept(trimmed_files=3, trimmed_events=8)
    for file_id, removed in zip(at_rest, [6, 6, 3, 3], strict=True):
        [(event, details)] = await _events(pool, file_id)
        assert event == "journal_trimmed"
        assert details["events"] == removed
        assert sum(details["kinds"].values()) == removed
        assert details["older_than_days"] == AGE_DAYS
        assert details["first"] <= details["last"]
    [(first_trim, _), (second_trim, details)] = await _events(pool, again)
    assert (first_trim, second_trim) == ("journal_trimmed", "journal_trimmed")
    assert details["kinds"] == {"retried": 1, "download_failed": 1}
    for name, file_id in kept.items():
        assert await _events(pool, file_id) == kept_journals[name], name
    assert await retention.run_pass(pool, policy()) == Swept()  # nothing left to do

    # The walk passed the unfinished file; once finished and at rest as long, it is trimmed.
    async with pool.connection() as conn:
        await conn.execute("UPDATE files SET status = 'notified', updated_at = now() - %s"
                           " WHERE id = %s", (LONG_AGO - timedelta(days=1), kept["unfinished"]))
    assert await retention.run_pass(pool, policy()) == Swept(trimmed_files=1, trimmed_events=5)
    [(event, _)] = await _events(pool, kept["unfinished"])
    assert event == "journal_trimmed"


async def test_old_notified_files_are_summarized_and_the_totals_stay(pool, server) -> None:
    day_one, day_two = LONG_AGO, LONG_AGO + timedelta(days=1)
    summarized = [await _file(pool, server, "notified", rested=rested, events=HAPPY,
                              size=size)
                  for rested, size in [(day_one, 10), (day_one, 20), (day_two, 5)]]
    read_by_job = summarized[0]
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO jobs (source, file_id, status) VALUES (%s, %s, 'succeeded')"
            " RETURNING id", (Jsonb({"source": "s3", "bucket": "b", "key": "k"}), read_by_job))
        job = (await cur.fetchone())["id"]
    stays = {
        "failed": await _file(pool, server, "failed", rested=LONG_AGO, events=["discovered"]),
        "recent": await _file(pool, server, "notified", rested=timedelta(days=1),
                              events=HAPPY),
        # Its deletion on the partner was given up: an operator may still retry it.
        "action given up": await _file(pool, server, "notified", rested=LONG_AGO,
                                       events=HAPPY, remote_action="delete",
                                       remote_action_state="failed"),
    }
    before = await _counts_of(pool, server)

    swept = await retention.run_pass(pool, policy(events_days=0, notified_days=AGE_DAYS,
                                                  batch_files=2))

    assert swept == Swept(summarized_files=3)
    assert await _counts_of(pool, server) == before == {"notified": 5, "failed": 1}
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM files WHERE server_id = %s", (server,))
        assert {row["id"] for row in await cur.fetchall()} == set(stays.values())
        cur = await conn.execute("SELECT count(*) AS n FROM file_events WHERE file_id = ANY(%s)",
                                 (summarized,))
        assert (await cur.fetchone())["n"] == 0
        cur = await conn.execute(
            "SELECT day, files, bytes FROM file_totals WHERE server_id = %s ORDER BY day",
            (server,))
        assert [(r["files"], r["bytes"]) for r in await cur.fetchall()] == [(1, 5), (2, 30)]
        cur = await conn.execute("SELECT file_id FROM jobs WHERE id = %s", (job,))
        assert (await cur.fetchone())["file_id"] is None  # the job and its result stay

    # A later pass adds to the same day's row.
    await _file(pool, server, "notified", rested=day_one, events=HAPPY, size=1)
    await retention.run_pass(pool, policy(events_days=0, notified_days=AGE_DAYS))
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT files, bytes FROM file_totals WHERE server_id = %s ORDER BY day", (server,))
        assert [(r["files"], r["bytes"]) for r in await cur.fetchall()] == [(1, 5), (3, 31)]
    assert (await _counts_of(pool, server))["notified"] == 6

    # Its history is counted: the server is disabled, not deleted.
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM files WHERE server_id = %s", (server,))
    removal = await remove_server(pool, server)
    assert removal is not None
    assert (removal.deleted, removal.file_count) == (False, 4)


async def test_a_summarized_file_its_server_still_lists_is_not_discovered_again(
        pool, server) -> None:
    delivered = await _file(pool, server, "notified", rested=LONG_AGO, events=HAPPY)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT remote_path, size, remote_mtime FROM files"
                                 " WHERE id = %s", (delivered,))
        version = await cur.fetchone()
    path, size, mtime = version["remote_path"], version["size"], version["remote_mtime"]
    await retention.run_pass(pool, policy(events_days=0, notified_days=AGE_DAYS))

    assert await _stable(pool, server, [(path, size, mtime)]) == []
    assert await _stable(pool, server, [(path, size, mtime)]) == []  # every scan alike
    assert await _stable(pool, server, [(path, size + 1, mtime)]) == [(path, size + 1, mtime)]

    async with pool.connection() as conn:
        cur = await conn.execute("SELECT now() AS at")
        scan_started = (await cur.fetchone())["at"]
        await conn.execute(queries.FORGET_VANISHED,  # a complete listing without the path
                           {"server_id": server, "scan_started": scan_started})
        cur = await conn.execute("SELECT count(*) AS n FROM sightings WHERE server_id = %s",
                                 (server,))
        assert (await cur.fetchone())["n"] == 0


async def _stable(pool: Pool, server: int,
                  listed: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """What discovery's listing batch finds new and stable (no minimum age)."""
    async with pool.connection() as conn:
        cur = await conn.execute(queries.OBSERVE_BATCH, {
            "server_id": server, "entries": queries.listing_param(listed), "min_age": 0,
            "limit": 100})
        return [(r["remote_path"], r["size"], r["remote_mtime"]) for r in await cur.fetchall()]


async def _counts_of(pool: Pool, server: int) -> dict[str, int]:
    return {row["status"]: row["n"] for row in await dashboard.counts(pool)
            if row["server_id"] == server}


async def test_one_replica_runs_the_pass_at_a_time(pool, server, settings: Settings) -> None:
    files = [await _file(pool, server, "notified", rested=LONG_AGO, events=HAPPY)
             for _ in range(4)]
    url = settings.database_url.get_secret_value()

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other:
        await other.execute("SELECT pg_advisory_lock(%s)", (retention.LOCK_KEY,))
        assert await retention.run_pass(pool, policy()) is None
        assert len(await _events(pool, files[0])) == len(HAPPY)  # nothing was touched
        # While that replica's pass lasts (one file a batch, a pause between), another waits.
        await other.execute("SELECT pg_advisory_unlock(%s)", (retention.LOCK_KEY,))
        slow = asyncio.create_task(retention.run_pass(
            pool, policy(batch_files=1, pause_seconds=0.5)))
        await _until_locked(other)
        assert await retention.run_pass(pool, policy()) is None
        assert await slow == Swept(trimmed_files=4, trimmed_events=4 * len(HAPPY))
        assert await retention.run_pass(pool, policy()) == Swept()  # the lock was let go


async def _until_locked(conn: psycopg.AsyncConnection[Any]) -> None:
    """Wait until some session holds the pass's advisory lock."""
    async with asyncio.timeout(30):
        while True:
            cur = await conn.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid = 0 AND objid = %s AND objsubid = 1", (retention.LOCK_KEY,))
            if await cur.fetchone():
                return
            await asyncio.sleep(0.01)


async def test_zero_keeps_everything_forever(pool, server) -> None:
    ancient = timedelta(days=3650)
    file_id = await _file(pool, server, "notified", rested=ancient, events=HAPPY)

    assert await retention.run_pass(pool, policy(events_days=0, notified_days=0)) == Swept()

    assert [event for event, _ in await _events(pool, file_id)] == HAPPY


@pytest.mark.parametrize(("env", "events", "notified", "runs"), [
    ({}, 90, 0, True),
    ({"INTAKE_RETENTION_EVENTS_DAYS": "0"}, 0, 0, False),
    ({"INTAKE_RETENTION_NOTIFIED_DAYS": "400"}, 90, 400, True),
])
def test_the_defaults_trim_journals_after_90_days_and_keep_rows(
        settings: Settings, monkeypatch, env: dict[str, str], events: int, notified: int,
        runs: bool) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    configured = DiscoverySettings.model_validate(settings.model_dump()).retention
    assert (configured.events_days, configured.notified_days, configured.anything) == (
        events, notified, runs)

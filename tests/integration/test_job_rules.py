"""A server's ``job_pattern``: the reconciler's pass makes one job for each recently stored
file whose name matches, with its message in the outbox, and none for any other file."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest

from infra import jobs
from infra.postgres import Pool
from tests.integration.conftest import unique_name
from tests.integration.outbox_rows import take_outbox


class Made:
    """The servers and files a test makes up, failed afterwards (the e2e and fault tests of
    the run share the database: no reconciler there must pick them up)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.server_ids: list[int] = []

    async def server(self, job_pattern: str | None) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO servers (name, host, port, username, job_pattern)"
                " VALUES (%s, '127.0.0.1', 9, 'partner', %s) RETURNING id",
                (unique_name(), job_pattern))
            row = await cur.fetchone()
        assert row is not None
        self.server_ids.append(row["id"])
        return int(row["id"])

    async def file(self, server_id: int, filename: str, *, status: str = "stored",
                   stored_ago: str = "1 minute") -> UUID:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO files (server_id, remote_path, filename, size, remote_mtime,"
                "                   status, bucket, object_key, stored_at)"
                " VALUES (%s, %s, %s, 10, 1700000000, %s, 'intake', %s,"
                "         now() - %s::interval) RETURNING id",
                (server_id, f"/in/{uuid4().hex}/{filename}", filename, status,
                 f"t/{uuid4().hex}/{filename}", stored_ago))
            row = await cur.fetchone()
        assert row is not None
        file_id: UUID = row["id"]
        return file_id

    async def forget(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "UPDATE jobs SET status = 'failed', lease_until = NULL, finished_at = now(),"
                " error = 'made up by a rule test' WHERE status IN ('queued', 'running')"
                " AND file_id IN (SELECT id FROM files WHERE server_id = ANY(%s))",
                (self.server_ids,))
            await conn.execute(
                "UPDATE files SET status = 'failed', error_message = 'made up by a rule test'"
                " WHERE server_id = ANY(%s) AND status IN ('stored', 'notified')",
                (self.server_ids,))


@pytest.fixture
async def made(pool: Pool) -> AsyncIterator[Made]:
    made = Made(pool)
    yield made
    await made.forget()


async def _rule_jobs(pool: Pool, file_id: UUID) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, source, options, status FROM jobs WHERE file_id = %s AND rule",
            (file_id,))
        return await cur.fetchall()


async def _passes(pool: Pool, times: int = 3) -> list[UUID]:
    created: list[UUID] = []
    for _ in range(times):
        created += [outgoing.message.job_id for outgoing in await jobs.create_for_rules(pool)]
    return created


async def test_a_matching_stored_file_gets_one_job_whatever_the_passes(
        pool: Pool, made: Made) -> None:
    server = await made.server("*.csv")
    sales = await made.file(server, "sales.csv")
    notified = await made.file(server, "later.csv", status="notified")

    created = await _passes(pool)

    [job] = await _rule_jobs(pool, sales)
    assert job["status"] == "queued" and job["options"] == jobs.RULE_OPTIONS
    assert job["source"]["source"] == "s3" and job["source"]["bucket"] == "intake"
    assert job["source"]["key"].endswith("/sales.csv")
    [other] = await _rule_jobs(pool, notified)
    assert created.count(job["id"]) == created.count(other["id"]) == 1
    for job_id in (job["id"], other["id"]):
        [message] = await take_outbox(pool, job_id)
        assert (message["stage"], message["body"]["job_id"]) == ("jobs", str(job_id))
        assert message["message_id"] == f"{job_id}:jobs" and message["delay"] is None


async def test_no_job_for_a_file_the_rule_does_not_take(pool: Pool, made: Made) -> None:
    ruled = await made.server("*.csv")
    unruled = await made.server(None)
    untaken = [
        await made.file(ruled, "notes.txt"),
        await made.file(ruled, "SALES.CSV"),  # case-sensitive
        await made.file(ruled, "old.csv", stored_ago="2 days"),
        await made.file(ruled, "broken.csv", status="failed"),
        await made.file(ruled, "moving.csv", status="storing"),
        await made.file(unruled, "sales.csv"),
    ]

    await _passes(pool, times=1)

    for file_id in untaken:
        assert await _rule_jobs(pool, file_id) == []


async def test_wildcards_are_only_star_and_question_mark(pool: Pool, made: Made) -> None:
    """LIKE's own wildcards and its escape character are literal in a pattern (the API
    refuses a backslash; one written straight to the table is still taken literally)."""
    server = await made.server("day_?%\\*.csv")
    taken = await made.file(server, "day_1%\\2024.csv")
    untaken = [await made.file(server, name) for name in
               ("dayX1%\\2024.csv", "day_1x\\2024.csv", "day_1%2024.csv", "day_12%\\.csv")]

    await _passes(pool, times=1)

    [job] = await _rule_jobs(pool, taken)
    await take_outbox(pool, job["id"])
    for file_id in untaken:
        assert await _rule_jobs(pool, file_id) == []


async def test_a_job_asked_for_does_not_stand_in_for_the_rule(pool: Pool, made: Made) -> None:
    server = await made.server("*.csv")
    sales = await made.file(server, "sales.csv")
    asked, _ = await jobs.create(pool, source={"source": "s3", "bucket": "intake",
                                               "key": "x.csv"},
                                 options=jobs.RULE_OPTIONS, file_id=sales)
    await take_outbox(pool, asked.id)

    await _passes(pool, times=1)

    [job] = await _rule_jobs(pool, sales)
    assert job["id"] != asked.id
    await take_outbox(pool, job["id"])

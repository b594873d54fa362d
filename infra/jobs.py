"""A processing job's life in the ``jobs`` table: every write of its status is here.

``queued → running → succeeded | failed``; a running job holds a lease that its worker
renews with each progress write; a worker killed mid-job stops renewing, and the job is
claimed again once the lease ran out (by a redelivered message, or the reconciler's).
Like a file's transitions, each change is one compare-and-set statement, and a change that
a message must follow writes that message's outbox row with it.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from contracts import JobRequested, Stage
from infra.outbox import Outgoing, insert_after, queue
from infra.postgres import Pool

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
FINISHED = (SUCCEEDED, FAILED)
# A server's rule applies to its files stored this recently: a rule set today does not
# reprocess last year's files.
RULE_WINDOW_HOURS = 24
# The options of a rule's jobs: the API's defaults.
RULE_OPTIONS: dict[str, Any] = {"step": 10, "offset": 10, "header": None, "delimiter": ","}


@dataclass(frozen=True, slots=True)
class JobRow:
    id: UUID
    source: dict[str, Any]
    file_id: UUID | None
    options: dict[str, Any]
    status: str
    attempts: int
    lease_until: datetime | None
    bytes_total: int | None
    bytes_done: int
    rows_done: int
    result: dict[str, Any] | None
    error: str | None
    logged_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    rule: bool


job_row = class_row(JobRow)


def requested(job_id: UUID, delay: float | None = None) -> Outgoing:
    """The message that has a worker run the job (after ``delay`` seconds: a retry)."""
    return Outgoing(Stage.JOBS, JobRequested(job_id=job_id), f"{job_id}:{Stage.JOBS}", delay)


_INSERT = """
INSERT INTO jobs (source, file_id, options) VALUES (%(source)s, %(file_id)s, %(options)s)
RETURNING *"""


async def create(pool: Pool, *, source: dict[str, Any], options: dict[str, Any],
                 file_id: UUID | None = None) -> tuple[JobRow, Outgoing]:
    """A queued job and, in the same transaction, its ``JobRequested`` in the outbox."""
    async with pool.connection() as conn, conn.transaction():
        async with conn.cursor(row_factory=job_row) as cur:
            await cur.execute(_INSERT, {"source": Jsonb(source), "file_id": file_id,
                                        "options": Jsonb(options)})
            row = await cur.fetchone()
        assert row is not None  # INSERT ... RETURNING always yields the row
        outgoing = requested(row.id)
        await queue(conn, [outgoing])
    return row, outgoing


_CLAIM = """
UPDATE jobs
   SET status = 'running', attempts = attempts + 1, error = NULL,
       lease_until = now() + make_interval(secs => %(lease)s),
       started_at = COALESCE(started_at, now()), updated_at = now()
 WHERE id = %(id)s
   AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
RETURNING *"""


async def claim(pool: Pool, job_id: UUID, *, lease_seconds: float) -> JobRow | None:
    """Take the job, or None when another worker runs it or it is finished."""
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_CLAIM, {"id": job_id, "lease": lease_seconds})
        return await cur.fetchone()


_PROGRESS = """
UPDATE jobs
   SET bytes_done = %(bytes)s, rows_done = %(rows)s, bytes_total = %(total)s,
       lease_until = now() + make_interval(secs => %(lease)s), updated_at = now()
 WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
RETURNING id"""


async def progress(pool: Pool, job: JobRow, *, bytes_done: int, rows_done: int,
                   bytes_total: int | None, lease_seconds: float) -> bool:
    """Record how far the job got and renew its lease; False when the claim was lost (the
    lease ran out and another worker took the job: its attempt counter moved on)."""
    async with pool.connection() as conn:
        cur = await conn.execute(_PROGRESS, {
            "id": job.id, "attempt": job.attempts, "bytes": bytes_done, "rows": rows_done,
            "total": bytes_total, "lease": lease_seconds})
        return await cur.fetchone() is not None


_SUCCEED = """
UPDATE jobs
   SET status = 'succeeded', result = %(result)s, lease_until = NULL, finished_at = now(),
       updated_at = now(), rows_done = %(rows)s,
       bytes_total = COALESCE(%(total)s, bytes_total), bytes_done = %(bytes)s
 WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
RETURNING *"""


async def succeed(pool: Pool, job: JobRow, result: dict[str, Any], *, bytes_done: int,
                  bytes_total: int | None) -> JobRow | None:
    """Record the result and the bytes read; None when this worker's claim was lost."""
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_SUCCEED, {"id": job.id, "attempt": job.attempts,
                                     "result": Jsonb(result), "rows": result.get("rows", 0),
                                     "bytes": bytes_done, "total": bytes_total})
        return await cur.fetchone()


# A failed attempt queues the job again (its retry message in the outbox, in the same
# statement) or fails it for good when the error is permanent or the attempts are used up.
_RELEASE = """
WITH changed AS (
UPDATE jobs
   SET status = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s
                     THEN 'failed' ELSE 'queued' END,
       finished_at = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s
                          THEN now() END,
       error = %(error)s, lease_until = NULL, updated_at = now()
 WHERE id = %(id)s AND status = 'running' AND attempts = %(attempt)s
RETURNING *
), queued AS ({retry})
SELECT * FROM changed""".format(retry=insert_after("changed", "changed.status = 'queued'"))


async def release(pool: Pool, job: JobRow, *, error: str, permanent: bool,
                  max_attempts: int, retry: Outgoing) -> JobRow | None:
    """Record a failed attempt; the row's status says whether ``retry`` was queued."""
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_RELEASE, {
            "id": job.id, "attempt": job.attempts, "error": error, "permanent": permanent,
            "max_attempts": max_attempts, **retry.params()})
        return await cur.fetchone()


_MARK_LOGGED = "UPDATE jobs SET logged_at = now() WHERE id = %(id)s AND logged_at IS NULL"


async def mark_logged(pool: Pool, job_id: UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute(_MARK_LOGGED, {"id": job_id})


# The reconciler's pass: running jobs whose lease ran out (their worker died) and queued
# jobs nothing has touched for a while (their message was lost) get their message again;
# touching them keeps the next pass from sending it twice.
_STALLED = """
WITH stalled AS (
    SELECT id FROM jobs
     WHERE (status = 'running' AND lease_until < now())
        OR (status = 'queued' AND updated_at < now() - make_interval(secs => %(idle)s))
     ORDER BY created_at
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET updated_at = now() FROM stalled WHERE j.id = stalled.id
RETURNING j.id"""

# The rule pass: the files of servers with a job_pattern, stored in the window, whose name
# matches (LIKE on the column the database translates the glob into) and that have no rule
# job yet. files_stored_by_server bounds the scan to the window; the unique jobs_rule_file
# answers the NOT EXISTS and makes racing reconcilers insert one job between them.
_FROM_RULES = """
WITH due AS (
    SELECT f.id, f.bucket, f.object_key
      FROM servers s JOIN files f ON f.server_id = s.id
     WHERE s.job_pattern_like IS NOT NULL
       AND f.status IN ('stored', 'notified')
       AND f.stored_at > now() - make_interval(hours => %(window)s)
       AND f.filename LIKE s.job_pattern_like
       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.file_id = f.id AND j.rule)
     ORDER BY f.stored_at
     LIMIT %(limit)s
)
INSERT INTO jobs (source, file_id, options, rule)
SELECT jsonb_build_object('source', 's3', 'bucket', bucket, 'key', object_key), id,
       %(options)s, true
  FROM due
    ON CONFLICT (file_id) WHERE rule DO NOTHING
RETURNING id"""

_UNLOGGED = """
SELECT * FROM jobs WHERE status = 'succeeded' AND logged_at IS NULL
   AND finished_at < now() - make_interval(secs => %(grace)s)
 ORDER BY finished_at LIMIT %(limit)s"""


async def redrive_stalled(pool: Pool, *, idle_seconds: float, limit: int = 200) -> list[Outgoing]:
    """The messages of stalled jobs, written to the outbox with the pass (to be sent)."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_STALLED, {"idle": idle_seconds, "limit": limit})
        outgoing = [requested(row["id"]) for row in await cur.fetchall()]
        await queue(conn, outgoing)
    return outgoing


async def create_for_rules(pool: Pool, *, limit: int = 200) -> list[Outgoing]:
    """A job for each file that its server's ``job_pattern`` matches, stored within the
    last ``RULE_WINDOW_HOURS`` and without a rule job yet (``limit`` a pass, oldest first),
    their messages in the outbox in the same transaction. Made from stored files beside
    the pipeline, a job's failure never holds up a file's notification. A file stored while
    no processor ran for longer than the window gets no job."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_FROM_RULES, {"window": RULE_WINDOW_HOURS, "limit": limit,
                                               "options": Jsonb(RULE_OPTIONS)})
        outgoing = [requested(row["id"]) for row in await cur.fetchall()]
        await queue(conn, outgoing)
    return outgoing


async def unlogged(pool: Pool, *, grace_seconds: float, limit: int = 200) -> list[JobRow]:
    """Succeeded jobs whose worker died before their line reached the results log."""
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_UNLOGGED, {"grace": grace_seconds, "limit": limit})
        return await cur.fetchall()


_GET = "SELECT * FROM jobs WHERE id = %(id)s"


async def get(pool: Pool, job_id: UUID) -> JobRow | None:
    async with pool.connection() as conn, conn.cursor(row_factory=job_row) as cur:
        await cur.execute(_GET, {"id": job_id})
        return await cur.fetchone()

"""Every change of a file's status, each a compare-and-set UPDATE plus its journal row.

A transition only happens when the file is in the state the caller expects, in the same
transaction as its ``file_events`` row. A duplicate or stale message therefore finds the
file elsewhere and changes nothing.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from infra.postgres import Pool

log = logging.getLogger("intake.files")


class Status(StrEnum):
    DISCOVERED = "discovered"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    STORING = "storing"
    STORED = "stored"
    NOTIFIED = "notified"
    FAILED = "failed"
    MISSING = "missing"


_INSERT_EVENT = "INSERT INTO file_events (file_id, event, details) VALUES (%s, %s, %s)"

# A claim succeeds from the expected state when nobody holds a lease on it, or from the
# claimed state once its lease ran out (the previous worker died without finishing).
_CLAIM = """
UPDATE files
   SET status = %(to)s, attempts = attempts + 1, updated_at = now(),
       lease_until = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s
   AND ((status = %(expect)s AND (lease_until IS NULL OR lease_until < now()))
        OR (status = %(to)s AND lease_until < now()))
RETURNING *
"""

_RENEW = """
UPDATE files SET lease_until = now() + make_interval(secs => %(lease)s)
 WHERE id = %(id)s AND status = %(status)s AND lease_until IS NOT NULL
RETURNING id
"""

_FINISH = """
UPDATE files
   SET status = %(to)s, attempts = 0, lease_until = NULL, error_message = NULL,
       updated_at = now(), {assignments}
 WHERE id = %(id)s AND status = %(expect)s
RETURNING *
"""

_FINISHABLE = {"sha256", "md5", "bucket", "object_key", "etag", "stored_at", "notified_at"}

# A failed attempt hands the file back to the previous state for a retry, or fails it
# for good when the error is permanent or the attempts are used up.
_RELEASE = """
UPDATE files
   SET status = CASE WHEN %(permanent)s OR attempts >= %(max_attempts)s
                     THEN %(failed)s ELSE %(back_to)s END,
       lease_until = NULL, error_message = %(error)s, updated_at = now()
 WHERE id = %(id)s AND status = %(expect)s
RETURNING *
"""


async def claim(
    pool: Pool,
    file_id: UUID,
    *,
    expect: Status,
    to: Status,
    lease_seconds: int,
    event: str | None,
    **details: Any,
) -> dict[str, Any] | None:
    """Take the file for one stage, or return None when someone else has it or it moved on.

    ``to`` may equal ``expect``: the lease alone then marks the file as taken.
    """
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _CLAIM, {"id": file_id, "expect": expect, "to": to, "lease": lease_seconds}
        )
        row = await cur.fetchone()
        if row is None:
            return None
        if event is not None:
            details["attempt"] = row["attempts"]
            await conn.execute(_INSERT_EVENT, (file_id, event, Jsonb(details)))
            log.info(event, extra={"file_id": str(file_id), "event": event, "status": str(to)})
    return row


async def renew_lease(pool: Pool, file_id: UUID, *, status: Status, lease_seconds: int) -> bool:
    """Extend a claim during long work; False means the claim was lost."""
    async with pool.connection() as conn:
        cur = await conn.execute(_RENEW, {"id": file_id, "status": status, "lease": lease_seconds})
        return await cur.fetchone() is not None


@asynccontextmanager
async def lease_kept(pool: Pool, file_id: UUID, *, status: Status,
                     lease_seconds: int) -> AsyncIterator[threading.Event]:
    """Renew a claim every third of its lease while the body runs (a copy of a big file
    outlasts any lease); the event is set if the claim was lost to another worker, for
    work in a thread to stop or at least not to record its result."""
    lost = threading.Event()

    async def keep() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            try:
                if not await renew_lease(pool, file_id, status=status,
                                         lease_seconds=lease_seconds):
                    lost.set()
                    return
            except Exception:  # the database may be back before the lease runs out
                log.warning("lease renewal failed", exc_info=True,
                            extra={"file_id": str(file_id)})

    keeper = asyncio.create_task(keep())
    try:
        yield lost
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


async def finish(
    pool: Pool,
    file_id: UUID,
    *,
    expect: Status,
    to: Status,
    event: str,
    columns: dict[str, Any],
    **details: Any,
) -> dict[str, Any] | None:
    """Complete a stage, storing what it produced; None if the claim was lost meanwhile."""
    unknown = set(columns) - _FINISHABLE
    if unknown:
        raise ValueError(f"not a finishable column: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _FINISH.format(assignments=assignments),  # names checked against _FINISHABLE
            {"id": file_id, "expect": expect, "to": to, **columns},
        )
        row = await cur.fetchone()
        if row is None:
            return None
        await conn.execute(_INSERT_EVENT, (file_id, event, Jsonb(details)))
    log.info(event, extra={"file_id": str(file_id), "event": event, "status": str(to)})
    return row


async def release(
    pool: Pool,
    file_id: UUID,
    *,
    expect: Status,
    back_to: Status,
    event: str,
    error: str,
    permanent: bool,
    max_attempts: int,
    **details: Any,
) -> dict[str, Any] | None:
    """Record a failed attempt; the returned row's status says whether it will be retried."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            _RELEASE,
            {
                "id": file_id, "expect": expect, "back_to": back_to, "failed": Status.FAILED,
                "error": error, "permanent": permanent, "max_attempts": max_attempts,
            },
        )
        row = await cur.fetchone()
        if row is None:
            return None
        details.update(error=error, attempt=row["attempts"], status=row["status"])
        await conn.execute(_INSERT_EVENT, (file_id, event, Jsonb(details)))
    log.warning(
        "%s: %s", event, error,
        extra={"file_id": str(file_id), "event": event, "status": row["status"]},
    )
    return row


async def mark_missing(
    pool: Pool, file_id: UUID, *, expect: Status, reason: str
) -> dict[str, Any] | None:
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(
            "UPDATE files SET status = 'missing', lease_until = NULL, error_message = %s,"
            " updated_at = now() WHERE id = %s AND status = %s RETURNING *",
            (reason, file_id, expect),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        await conn.execute(_INSERT_EVENT, (file_id, "missing", Jsonb({"reason": reason})))
    log.warning("missing: %s", reason, extra={"file_id": str(file_id), "event": "missing"})
    return row

"""The database's retention pass: old journals trimmed, old notified files summarized.

Discovery runs it on a schedule (``INTAKE_RETENTION_INTERVAL_SECONDS``); of all its
replicas one at a time, the one that takes the advisory lock, held by its connection for
the pass (a replica that dies mid-pass frees it with its connection). The work goes in
batches of ``INTAKE_RETENTION_BATCH_FILES`` files, each one statement, so one short
transaction, with a pause between them: nothing else ever waits on the pass for long, and
a backlog of months is worked off over one long pass rather than one long lock. The
statements are ``infra.file_states``'s (``trimming.py``, ``summaries.py``).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from infra import file_states
from infra.postgres import Pool

log = logging.getLogger(__name__)

# The advisory lock of the pass (pg_locks shows who holds it): any constant that every
# replica shares, and not the migrations'.
LOCK_KEY = 0x1A7A4F


@dataclass(frozen=True)
class Policy:
    events_days: int  # journals of files at rest this long are trimmed; 0: kept forever
    notified_days: int  # notified files discovered this long ago are summarized; 0: kept
    batch_files: int
    pause_seconds: float

    @property
    def anything(self) -> bool:
        return self.events_days > 0 or self.notified_days > 0


@dataclass(frozen=True)
class Swept:
    """What one pass did."""

    trimmed_files: int = 0
    trimmed_events: int = 0
    summarized_files: int = 0


async def run_pass(pool: Pool, policy: Policy) -> Swept | None:
    """One pass to the end of the work; None when another replica's pass holds the lock."""
    if not policy.anything:
        return Swept()
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT pg_try_advisory_lock(%s) AS mine", (LOCK_KEY,))
        row = await cur.fetchone()
        if row is None or not row["mine"]:
            log.info("retention pass skipped: another replica's pass is running")
            return None
        try:
            swept = await _work(conn, policy)
        finally:
            await _unlock(conn)
    log.info("retention pass: %s journals trimmed (%s events), %s notified files summarized",
             swept.trimmed_files, swept.trimmed_events, swept.summarized_files)
    return swept


async def _unlock(conn: AsyncConnection[DictRow]) -> None:
    """Let the lock go; a session that cannot (a pass cancelled mid-statement) is closed,
    which lets it go too, rather than returned to the pool still holding it."""
    try:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    except Exception:
        await conn.close()
        raise


async def _work(conn: AsyncConnection[DictRow], policy: Policy) -> Swept:
    trimmed_files = trimmed_events = summarized = 0
    # Summarized files take their journals with them: summarize first, trim what stays.
    if policy.notified_days > 0:
        async def summarize() -> int:
            return await file_states.summarize_batch(
                conn, older_than_days=policy.notified_days, limit=policy.batch_files)
        summarized = await _batches(summarize, policy)
    if policy.events_days > 0:
        async def trim() -> int:
            nonlocal trimmed_events
            batch = await file_states.trim_batch(
                conn, older_than_days=policy.events_days, limit=policy.batch_files)
            trimmed_events += batch.events
            return batch.files
        trimmed_files = await _batches(trim, policy)
    return Swept(trimmed_files, trimmed_events, summarized)


async def _batches(batch: Callable[[], Awaitable[int]], policy: Policy) -> int:
    """Run ``batch`` until one does less than a full batch; the files done in all."""
    done = 0
    while True:
        files = await batch()
        done += files
        if files < policy.batch_files:
            return done
        await asyncio.sleep(policy.pause_seconds)

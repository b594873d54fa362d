"""Live progress of the transfers in flight: the ``transfer_progress`` table's one home.

The threads that move a file's bytes only count them on a :class:`Meter`: no database call
in a copy loop. A task on the event loop samples the meter every ``INTAKE_PROGRESS_SECONDS``
and upserts the file's row once its first bytes moved, so a transfer costs one write per
interval whatever its chunk size, none at all when it ends within its first interval, and
a slow or absent database never holds up the copy. A row is shown until its
``expires_at``, three intervals after its last sample: the row of a process that died
stops showing on its own.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from psycopg.rows import class_row

from infra.postgres import Pool

log = logging.getLogger(__name__)

# A row is shown this many intervals after its last sample, then taken for dead.
KEPT_INTERVALS = 3
# The rate is the bytes moved over the last this many samples (and the start before them):
# smooth enough for a part-by-part upload, and a stall shows within as many intervals.
RATE_SAMPLES = 5


class Transfer(StrEnum):
    DOWNLOAD = "download"
    UPLOAD = "upload"


class Meter:
    """The bytes of one transfer: added to by the threads that move them, read by its
    reporter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = 0
        self._moved = 0

    def resumed(self, nbytes: int) -> None:
        """Bytes already in place when the transfer began (a resumed copy, stored parts):
        done, but not moved by this transfer, so not part of its rate."""
        with self._lock:
            self._done += nbytes

    def add(self, nbytes: int) -> None:
        with self._lock:
            self._done += nbytes
            self._moved += nbytes

    def read(self) -> tuple[int, int]:
        """(bytes done, bytes this transfer moved)."""
        with self._lock:
            return self._done, self._moved


class _Rate:
    """Bytes per second over the last ``RATE_SAMPLES`` samples of what a transfer moved."""

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque(maxlen=RATE_SAMPLES + 1)
        self.restart()

    def restart(self) -> None:
        """Count from now: the time before the first byte (a connect, a wait for a session
        or for the first part's bytes) is no part of the rate."""
        self._samples.clear()
        self._samples.append((time.monotonic(), 0))

    def sample(self, moved: int) -> float:
        self._samples.append((time.monotonic(), moved))
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        return (last - first) / (last_at - first_at) if last_at > first_at else 0.0


_SWEEP = "DELETE FROM transfer_progress WHERE expires_at < now()"

_UPSERT = """
INSERT INTO transfer_progress (file_id, stage, bytes_done, bytes_total, bytes_per_second,
                               started_at, updated_at, expires_at)
VALUES (%(file_id)s, %(stage)s, %(done)s, %(total)s, %(rate)s, %(started_at)s, now(),
        now() + make_interval(secs => %(kept)s))
ON CONFLICT (file_id, stage) DO UPDATE
   SET bytes_done = EXCLUDED.bytes_done, bytes_total = EXCLUDED.bytes_total,
       bytes_per_second = EXCLUDED.bytes_per_second, started_at = EXCLUDED.started_at,
       updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at
"""

# Only the row this transfer wrote: another worker that took the file over writes its own
# started_at.
_FORGET = """
DELETE FROM transfer_progress
 WHERE file_id = %(file_id)s AND stage = %(stage)s AND started_at = %(started_at)s
"""


class _Reporter:
    def __init__(self, pool: Pool, file_id: UUID, stage: Transfer, *, total: int,
                 every: float) -> None:
        self.meter = Meter()
        self.wrote = False
        self._pool = pool
        self._every = every
        self._rate = _Rate()
        self._row = {"file_id": file_id, "stage": str(stage), "total": total,
                     "started_at": datetime.now(UTC), "kept": every * KEPT_INTERVALS}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            done, moved = self.meter.read()
            if not moved:  # not moving yet: nothing to show, however long it waits
                self._rate.restart()
                continue
            rate = self._rate.sample(moved)
            first, self.wrote = not self.wrote, True
            try:
                async with self._pool.connection() as conn:
                    if first:  # what dead processes left, once per transfer
                        await conn.execute(_SWEEP)
                    await conn.execute(_UPSERT, {**self._row, "done": done, "rate": rate})
            except Exception:  # progress is for people to look at: it never fails a transfer
                log.warning("transfer progress not recorded", exc_info=True,
                            extra={"file_id": str(self._row["file_id"])})

    async def forget(self) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute(_FORGET, self._row)
        except Exception:
            log.warning("transfer progress not removed; it expires", exc_info=True,
                        extra={"file_id": str(self._row["file_id"])})


@contextlib.asynccontextmanager
async def reporting(pool: Pool, file_id: UUID, stage: Transfer, *, total: int,
                    every: float) -> AsyncIterator[Meter]:
    """Record the progress of ``file_id``'s ``stage`` every ``every`` seconds while the body
    runs, from the meter it is given; the row goes when the body ends."""
    reporter = _Reporter(pool, file_id, stage, total=total, every=every)
    task = asyncio.create_task(reporter.run())
    try:
        yield reporter.meter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if reporter.wrote:
            await reporter.forget()


@dataclass(frozen=True)
class Progress:
    file_id: UUID
    filename: str
    stage: str
    bytes_done: int
    bytes_total: int
    bytes_per_second: float | None
    started_at: datetime
    updated_at: datetime

    @property
    def eta_seconds(self) -> float | None:
        """At the current rate; None while nothing moves."""
        if not self.bytes_per_second:
            return None
        return max(self.bytes_total - self.bytes_done, 0) / self.bytes_per_second


_LIVE = """
SELECT p.file_id, f.filename, p.stage, p.bytes_done, p.bytes_total, p.bytes_per_second,
       p.started_at, p.updated_at
  FROM transfer_progress p JOIN files f ON f.id = p.file_id
 WHERE p.expires_at > now()
"""

# While a large file downloads its parts are streamed too: the download is shown, which
# the upload cannot overtake ('download' sorts first).
_OF_FILES = f"""
SELECT DISTINCT ON (file_id) * FROM ({_LIVE} AND p.file_id = ANY(%(ids)s)) live
 ORDER BY file_id, stage
"""  # noqa: S608 (constant text)

_ALL = f"{_LIVE} ORDER BY p.started_at, p.stage LIMIT %(limit)s"


async def of_files(pool: Pool, file_ids: Sequence[UUID]) -> dict[UUID, Progress]:
    """The transfer in flight of each of ``file_ids`` that has one."""
    if not file_ids:
        return {}
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(Progress)) as cur:
        await cur.execute(_OF_FILES, {"ids": list(file_ids)})
        return {progress.file_id: progress for progress in await cur.fetchall()}


async def in_flight(pool: Pool, *, limit: int) -> list[Progress]:
    """Every transfer in flight (a streamed file's download and upload each), oldest first."""
    async with pool.connection() as conn, conn.cursor(row_factory=class_row(Progress)) as cur:
        await cur.execute(_ALL, {"limit": limit})
        return await cur.fetchall()

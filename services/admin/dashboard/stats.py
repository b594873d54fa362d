"""The dashboard's numbers, shared by ``GET /api/stats`` and the console's home page."""

import asyncio
import time
from collections.abc import Mapping
from datetime import timedelta

from infra import transfer_progress
from infra.file_states import Status
from infra.postgres import Pool
from services.admin.dashboard import queries
from services.admin.dashboard.health_of_services import probe_all
from services.admin.dashboard.schemas import (
    MinuteOut,
    OldestOut,
    ServerStatsOut,
    SpoolOut,
    StatsOut,
    TransferOut,
)
from services.admin.jobs import queries as jobs_queries

TRANSFERS_SHOWN = 50


def _zero() -> dict[str, int]:
    return {str(status): 0 for status in Status}


async def collect(pool: Pool, *, lost_after: int) -> StatsOut:
    (counted, in_flight, oldest, (now, minutes), servers, spools, jobs,
     transfers) = await asyncio.gather(
        queries.counts(pool),
        queries.in_flight(pool),
        queries.oldest_unfinished(pool),
        queries.stored_per_minute(pool),
        queries.servers(pool),
        queries.spools(pool, lost_after=lost_after),
        jobs_queries.in_progress(pool),
        transfer_progress.in_flight(pool, limit=TRANSFERS_SHOWN),
    )
    totals = _zero()
    per_server: dict[int | None, dict[str, int]] = {}
    for row in counted:
        totals[row["status"]] += row["n"]
        per_server.setdefault(row["server_id"], _zero())[row["status"]] = row["n"]
    by_minute = {row["minute"]: row for row in minutes}
    window = [now - timedelta(minutes=back) for back in range(queries.WINDOW_MINUTES - 1, -1, -1)]
    return StatsOut(
        counts=totals,
        total=sum(totals.values()),
        in_flight=in_flight,
        stored_per_minute=[
            MinuteOut(minute=minute, files=by_minute[minute]["files"] if minute in by_minute
                      else 0, bytes=by_minute[minute]["bytes"] if minute in by_minute else 0)
            for minute in window
        ],
        oldest_unfinished=OldestOut.model_validate(oldest) if oldest else None,
        servers=[
            ServerStatsOut(**server, counts=per_server.get(server["id"], _zero()))
            for server in servers
        ],
        spools=[SpoolOut.model_validate(spool) for spool in spools],
        jobs_in_progress=jobs,
        transfers=[TransferOut.model_validate(transfer) for transfer in transfers],
    )


class StatsCache:
    """Serves :func:`collect` at most once per ``max_age`` seconds, to every caller at once.

    The counts scan the whole ``files`` table (timed in docs/performance.md, target 6);
    without this, a few open dashboards polling every few seconds, or a burst of
    ``/api/stats`` calls, would each pay for it. Concurrent callers share the one
    computation in progress.
    """

    def __init__(self, pool: Pool, max_age: float, *, lost_after: int,
                 services: Mapping[str, str] | None = None) -> None:
        self._pool = pool
        self._services = services or {}
        self._max_age = max_age
        self._lost_after = lost_after
        self._value: StatsOut | None = None
        self._taken_at = 0.0
        self._pending: asyncio.Task[StatsOut] | None = None

    async def get(self) -> StatsOut:
        if self._value is not None and time.monotonic() - self._taken_at < self._max_age:
            return self._value
        if self._pending is None:
            self._pending = asyncio.create_task(self._refresh())
        # shield: a client that hangs up must not cancel the others' computation.
        return await asyncio.shield(self._pending)

    async def _refresh(self) -> StatsOut:
        started = time.monotonic()
        try:
            numbers, services = await asyncio.gather(
                collect(self._pool, lost_after=self._lost_after), probe_all(self._services))
            self._value = numbers.model_copy(update={"services": services})
            self._taken_at = started
            return self._value
        finally:
            self._pending = None

"""The dashboard's numbers, shared by ``GET /api/stats`` and the console's home page."""

import asyncio
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import BaseModel

from infra.file_states import Status
from infra.postgres import Pool
from services.admin.queries import stats as queries


class MinuteOut(BaseModel):
    minute: datetime
    files: int
    bytes: int


class OldestOut(BaseModel):
    id: UUID
    status: Status
    filename: str
    created_at: datetime
    age_s: float


class ServerStatsOut(BaseModel):
    id: int
    name: str
    enabled: bool
    last_scan_at: datetime | None
    last_scan_error: str | None
    counts: dict[str, int]


class StatsOut(BaseModel):
    counts: dict[str, int]
    """Files per status; every status is present."""
    total: int
    in_flight: int
    """Being downloaded or stored, or claimed by a worker right now."""
    stored_per_minute: list[MinuteOut]
    """The last 15 minutes, oldest first, from the journal's ``stored`` events."""
    oldest_unfinished: OldestOut | None
    servers: list[ServerStatsOut]


def _zero() -> dict[str, int]:
    return {str(status): 0 for status in Status}


async def collect(pool: Pool) -> StatsOut:
    counted, in_flight, oldest, (now, minutes), servers = await asyncio.gather(
        queries.counts(pool),
        queries.in_flight(pool),
        queries.oldest_unfinished(pool),
        queries.stored_per_minute(pool),
        queries.servers(pool),
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
    )

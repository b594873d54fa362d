"""``/api/stats``: what the pipeline is doing now, for dashboards and alerting."""

from litestar import get

from services.admin.dashboard.schemas import StatsOut
from services.admin.dependencies import StatsDep
from services.admin.errors import responses


@get("/api/stats", tags=["stats"], responses=responses())
async def get_stats(stats: StatsDep) -> StatsOut:
    """Files per status, files in flight, stored files and bytes per minute over the last
    15 minutes, the oldest unfinished file, and each server's last scan and counts. The
    numbers are at most ``INTAKE_STATS_MAX_AGE_S`` (2 s) old."""
    return await stats.get()

"""``/api/stats``: what the pipeline is doing now, for dashboards and alerting."""

from litestar import get

from services.admin import stats
from services.admin.api.errors import responses
from services.admin.dependencies import PoolDep


@get("/api/stats", tags=["stats"], responses=responses())
async def get_stats(pool: PoolDep) -> stats.StatsOut:
    """Files per status, files in flight, stored files and bytes per minute over the last
    15 minutes, the oldest unfinished file, and each server's last scan and counts."""
    return await stats.collect(pool)

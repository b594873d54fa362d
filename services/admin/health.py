"""Liveness and readiness probes, kept out of the OpenAPI schema."""

import logging

import psycopg
from litestar import Response, get
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from infra.postgres import Pool
from services.admin.dependencies import PoolDep

log = logging.getLogger(__name__)

BROKER_TIMEOUT_S = 2.0
DATABASE_TIMEOUT_S = 2.0


async def _ping(pool: Pool) -> None:
    async with pool.connection(timeout=DATABASE_TIMEOUT_S) as conn:
        await conn.execute("SELECT 1")


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process answers; says nothing about its dependencies, so restarts do not cascade."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(pool: PoolDep, state: State) -> Response[dict[str, str]]:
    """Ready when the database answers and the broker (for retries and uploads) is connected."""
    answer = {"status": "ok", "database": "ok", "broker": "ok"}
    try:
        await _ping(pool)
    except psycopg.Error as exc:
        log.warning("not ready: database unreachable: %s", exc)
        answer.update(status="unavailable", database="unreachable")
    if not await state.broker.ping(timeout=BROKER_TIMEOUT_S):
        log.warning("not ready: broker unreachable")
        answer.update(status="unavailable", broker="unreachable")
    code = HTTP_200_OK if answer["status"] == "ok" else HTTP_503_SERVICE_UNAVAILABLE
    return Response(answer, status_code=code)

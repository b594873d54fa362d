"""Downloader service: consumes ``discovered``, publishes ``downloaded``."""

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import stage_router
from infra.crypto import SecretBox
from infra.runtime import ServiceRuntime
from infra.sftp.pool import TEND_SECONDS, SessionPool
from infra.spool.registry import SpoolWatch
from services.downloader.batches import take_discovered
from services.downloader.handlers import DownloaderDeps
from services.downloader.janitor import sweep
from services.downloader.settings import DownloaderSettings

# The queue each handler takes (services/asyncapi.py documents them).
HANDLERS = {Stage.DISCOVERED: take_discovered}


def create_app(settings: DownloaderSettings | None = None) -> AsgiFastStream:
    settings = settings or DownloaderSettings()
    runtime = ServiceRuntime("downloader", settings)
    spool = runtime.serve_spool(beat=False)
    deps = runtime.deps(
        DownloaderDeps, settings, spool_id=spool.spool, box=SecretBox(settings.secret_key),
        spool_watch=SpoolWatch(runtime.pool, spool.spool,
                               lost_after=settings.spool_lost_after_seconds,
                               every=settings.spool_heartbeat_seconds),
        sessions=SessionPool.for_service(runtime.pool, settings),
    )

    async def sweep_spool() -> None:
        await sweep(runtime.pool, settings.spool, spool.spool,
                    failed_keep_days=settings.spool_failed_keep_days)

    runtime.run_every(settings.janitor_interval_seconds, sweep_spool, what="spool sweep")
    runtime.run_every(TEND_SECONDS, deps.sessions.tend, what="session slots")
    runtime.on_stop(deps.sessions.close)
    runtime.metrics.expect(Stage.DISCOVERED)
    runtime.broker.include_router(
        stage_router(settings.topology, HANDLERS))
    return runtime.asgi_app(deps)

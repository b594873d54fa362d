"""Downloader service: consumes ``discovered``, publishes ``downloaded``."""

import asyncio
import logging

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import consume
from infra.runtime import ServiceRuntime
from infra.sftp_pool import SessionPool
from services.downloader.handlers import DownloadStage
from services.downloader.janitor import sweep
from services.downloader.settings import DownloaderSettings

log = logging.getLogger(__name__)


def create_app(settings: DownloaderSettings | None = None) -> AsgiFastStream:
    settings = settings or DownloaderSettings()
    runtime = ServiceRuntime("downloader", settings)
    sessions = SessionPool(connect_timeout=settings.sftp_connect_timeout,
                           io_timeout=settings.sftp_io_timeout)

    async def prepare_spool() -> None:
        settings.spool.ensure()

    async def close_sessions() -> None:
        await asyncio.to_thread(sessions.close)

    async def janitor_loop() -> None:
        while True:
            await asyncio.sleep(settings.janitor_interval_seconds)
            try:
                await sweep(runtime.pool, settings.spool)
            except Exception:
                log.exception("spool sweep failed")

    runtime.on_start(prepare_spool)
    runtime.run_in_background(janitor_loop)
    runtime.on_stop(close_sessions)
    stage = DownloadStage(runtime, settings, sessions)
    consume(runtime.broker, settings.topology, Stage.DISCOVERED, stage.handle)
    return runtime.asgi_app()

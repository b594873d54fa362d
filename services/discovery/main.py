"""Discovery service: scan workers over due servers, the reconciler loop and the retention
pass."""

import asyncio
import logging

from faststream.asgi import AsgiFastStream

from infra import retention
from infra.crypto import SecretBox
from infra.runtime import ServiceRuntime
from infra.sftp.pool import TEND_SECONDS, SessionPool
from services.discovery.fleet import scan_fleet
from services.discovery.reconciling import recover_lost_copies, redrive_stalled
from services.discovery.scanning import Scanner
from services.discovery.settings import DiscoverySettings

log = logging.getLogger(__name__)


def create_app(settings: DiscoverySettings | None = None) -> AsgiFastStream:
    settings = settings or DiscoverySettings()
    runtime = ServiceRuntime("discovery", settings)
    sessions = SessionPool.for_service(runtime.pool, settings, keep_idle=False)
    scanner = Scanner(settings, runtime.pool, SecretBox(settings.secret_key),
                      runtime.outbox, runtime.metrics, sessions)
    runtime.metrics.transitions.labels("discovered")  # at zero from the start, as expect()

    async def scan_loop() -> None:
        await scan_fleet(scanner, workers=settings.scan_concurrency,
                         tick_seconds=settings.scan_tick_seconds)

    async def reconcile_loop() -> None:
        while True:
            try:
                await recover_lost_copies(runtime.pool, runtime.outbox, runtime.metrics,
                                          settings)
                await redrive_stalled(runtime.pool, runtime.publisher, runtime.outbox,
                                      runtime.metrics, settings,
                                      stale_seconds=settings.redrive_after_seconds)
            except Exception:
                log.exception("reconciler pass failed")
            await asyncio.sleep(settings.reconcile_interval_seconds)

    async def retention_pass() -> None:
        await retention.run_pass(runtime.pool, settings.retention)

    runtime.run_in_background(scan_loop)
    runtime.run_in_background(reconcile_loop)
    if settings.retention.anything:
        runtime.run_every(settings.retention_interval_seconds, retention_pass,
                          what="retention pass")
    runtime.run_every(TEND_SECONDS, sessions.tend, what="session slots")
    runtime.on_stop(sessions.close)
    return runtime.asgi_app()

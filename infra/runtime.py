"""Lifecycle shared by the four pipeline services: pool, broker, outbox and its relay,
metrics, health routes.

A service's ``create_app`` builds a :class:`ServiceRuntime`, builds its handlers'
dependencies from it, includes its router in ``runtime.broker`` and returns
``runtime.asgi_app(deps)``; the handlers receive those dependencies as FastStream's
context value ``deps``. Start order matters: the schema is migrated (or checked, see
``prepare_schema``) and the whole broker topology declared before any subscriber consumes;
the pool closes only after the broker has drained in-flight messages.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.asgi.types import Scope
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import CollectorRegistry, make_asgi_app

from infra.broker import (
    SpoolQueues,
    StagePublisher,
    create_broker,
    declare_spool_queues,
    declare_topology,
)
from infra.outbox import Outbox
from infra.postgres import Pool, create_pool, prepare_schema
from infra.settings import Settings
from infra.spool import identity, registry
from infra.spool.space import SpoolSpace
from infra.telemetry import StageMetrics, configure_logging, register_build_info

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]

# Where the probes of deploy/kubernetes look.
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"


@dataclass(frozen=True)
class StageDeps:
    """What every stage's handlers work with. A service's own class adds the rest and
    narrows ``settings`` to its settings class; its ``create_app`` builds it once."""

    pool: Pool
    publisher: StagePublisher
    outbox: Outbox
    settings: Settings
    metrics: StageMetrics


D = TypeVar("D", bound=StageDeps)


class ServiceRuntime:
    def __init__(self, name: str, settings: Settings) -> None:
        configure_logging(name, settings.log_level)
        self.name = name
        self.settings = settings
        self.registry = CollectorRegistry()
        self.metrics = StageMetrics(self.registry)
        register_build_info(self.registry, settings.git_commit)
        self.pool = create_pool(settings)
        self.broker = create_broker(
            settings.amqp_url.get_secret_value(),
            prefetch=settings.prefetch,
            middlewares=[RabbitPrometheusMiddleware(registry=self.registry, app_name=name)],
        )
        self.publisher = StagePublisher(self.broker, settings.topology)
        self.outbox = Outbox(self.pool, self.publisher,
                             grace_seconds=settings.outbox_grace_seconds,
                             exit_after_commit=settings.fault_exit_after_commit)
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._background: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.run_in_background(self.outbox.keep_forgetting)
        self.run_every(settings.outbox_relay_seconds, self.outbox.relay, what="outbox relay")
        # What handlers published while the broker drained is forgotten before the pool goes.
        self.on_stop(self.outbox.forget_sent)

    def deps(self, cls: type[D], settings: Settings, **own: Any) -> D:
        """A stage's ``cls`` of dependencies: this runtime's pool, publisher, outbox and
        metrics, the service's ``settings``, and the fields ``own`` to that stage."""
        return cls(pool=self.pool, publisher=self.publisher, outbox=self.outbox,
                   settings=settings, metrics=self.metrics, **own)

    def on_start(self, hook: Hook) -> None:
        """Run after the database and broker are ready, before consuming starts."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Run after the broker stopped consuming, before the database pool closes."""
        self._on_stop.append(hook)

    def run_in_background(self, loop: Callable[[], Awaitable[None]]) -> None:
        """A long-running task (a poll loop) started with the app and cancelled on stop."""
        self._background.append(loop)

    def run_every(self, seconds: float, job: Callable[[], Awaitable[object]], *,
                  what: str) -> None:
        """Run ``job`` every ``seconds`` (the first time after one interval) in the
        background; a failed run is logged as ``what`` failed and the next one comes."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await job()
                except Exception:
                    log.exception("%s failed", what)

        self.run_in_background(loop)

    def serve_spool(self, *, beat: bool) -> SpoolQueues:
        """This host's spool, for its downloader or uploader: the directory made, its
        identity resolved (``infra.spool.identity``), the spool registered and its queues
        declared on start. The uploader (``beat``) shows the spool alive from then on and
        declares its queues again with each beat, which keeps them from expiring. Both show
        the spool's free space in their metrics."""
        self.settings.spool.ensure()
        spool = SpoolQueues(identity.resolve(self.settings.spool_dir, self.settings.spool_id),
                            self.settings.spool_queue_expires_seconds)
        self.registry.register(SpoolSpace(self.settings.spool, spool.spool))

        mark = registry.beat if beat else registry.register

        async def show() -> None:
            await mark(self.pool, spool.spool)
            await declare_spool_queues(self.broker, self.settings.topology, spool)

        self.on_start(show)
        if beat:
            self.run_every(self.settings.spool_heartbeat_seconds, show, what="spool heartbeat")
        log.info("spool %s in %s", spool.spool, self.settings.spool_dir)
        return spool

    async def _startup(self) -> None:
        await self.pool.open(wait=True, timeout=60)
        await prepare_schema(self.pool, migrate_on_start=self.settings.migrate_on_start)
        await self.broker.connect()
        await declare_topology(self.broker, self.settings.topology)
        for hook in self._on_start:
            await hook()

    async def _after_startup(self) -> None:
        self._tasks = [asyncio.create_task(loop()) for loop in self._background]

    async def _shutdown(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _after_shutdown(self) -> None:
        for hook in self._on_stop:
            await hook()
        await self.pool.close()

    async def ready(self) -> bool:
        if not await self.broker.ping(timeout=2.0):
            return False
        try:
            async with asyncio.timeout(2.0), self.pool.connection() as conn:
                await conn.execute("SELECT 1")
        except Exception:
            log.warning("readiness check: database unavailable", exc_info=True)
            return False
        return True

    def asgi_app(self, deps: object = None) -> AsgiFastStream:
        """The service as an ASGI app; ``deps`` is what its handlers get as ``deps``."""
        @get(include_in_schema=False)
        async def healthz(scope: Scope) -> AsgiResponse:
            return AsgiResponse(b"ok", 200)

        @get(include_in_schema=False)
        async def readyz(scope: Scope) -> AsgiResponse:
            if await self.ready():
                return AsgiResponse(b"ready", 200)
            return AsgiResponse(b"not ready", 503)

        return AsgiFastStream(
            self.broker,
            asgi_routes=[
                (LIVENESS_PATH, healthz),
                (READINESS_PATH, readyz),
                ("/metrics", make_asgi_app(self.registry)),
            ],
            logger=logging.getLogger("intake.app"),
            context=ContextRepo({"deps": deps}),
            on_startup=[self._startup],
            after_startup=[self._after_startup],
            on_shutdown=[self._shutdown],
            after_shutdown=[self._after_shutdown],
        )

"""Notifier service: consumes ``stored``, publishes FileReady to the external exchange."""

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import create_broker, stage_router
from infra.runtime import ServiceRuntime
from services.notifier.batches import take_stored
from services.notifier.handlers import NotifierDeps
from services.notifier.notifying import declare_external
from services.notifier.settings import NotifierSettings

# The queue each handler takes (services/asyncapi.py documents them).
HANDLERS = {Stage.STORED: take_stored}


def create_app(settings: NotifierSettings | None = None) -> AsgiFastStream:
    settings = settings or NotifierSettings()
    runtime = ServiceRuntime("notifier", settings)
    deps = runtime.deps(NotifierDeps, settings,
                        external=create_broker(settings.notify_url, prefetch=1))

    async def connect_external() -> None:
        await deps.external.connect()
        await declare_external(deps.external, settings)

    async def close_external() -> None:
        await deps.external.stop()

    runtime.on_start(connect_external)
    runtime.on_stop(close_external)
    runtime.metrics.expect(Stage.STORED)
    runtime.broker.include_router(
        stage_router(settings.topology, HANDLERS))
    return runtime.asgi_app(deps)

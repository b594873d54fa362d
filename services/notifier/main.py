"""Notifier service: consumes ``stored``, publishes FileReady to the external exchange."""

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import consume, create_broker
from infra.runtime import ServiceRuntime
from services.notifier.handlers import NotifyStage
from services.notifier.notifying import declare_external
from services.notifier.settings import NotifierSettings


def create_app(settings: NotifierSettings | None = None) -> AsgiFastStream:
    settings = settings or NotifierSettings()
    runtime = ServiceRuntime("notifier", settings)
    external = create_broker(settings.notify_url, prefetch=1)

    async def connect_external() -> None:
        await external.connect()
        await declare_external(external, settings)

    async def close_external() -> None:
        await external.stop()

    runtime.on_start(connect_external)
    runtime.on_stop(close_external)
    stage = NotifyStage(runtime, settings, external)
    consume(runtime.broker, settings.topology, Stage.STORED, stage.handle)
    return runtime.asgi_app()

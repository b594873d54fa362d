"""Uploader service: consumes ``downloaded``, publishes ``stored``."""

import asyncio

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import consume
from infra.runtime import ServiceRuntime
from infra.settings import Settings
from infra.storage import ObjectStore
from services.uploader.handlers import UploadStage


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    runtime = ServiceRuntime("uploader", settings)
    objects = ObjectStore(settings)

    async def prepare_bucket() -> None:
        await asyncio.to_thread(objects.ensure_bucket)

    runtime.on_start(prepare_bucket)
    stage = UploadStage(runtime, objects)
    consume(runtime.broker, settings.topology, Stage.DOWNLOADED, stage.handle)
    return runtime.asgi_app()

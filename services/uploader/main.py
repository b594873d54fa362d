"""Uploader service: consumes ``downloaded``, publishes ``stored``."""

import asyncio

from faststream.asgi import AsgiFastStream

from infra.runtime import ServiceRuntime
from infra.settings import Settings
from infra.storage import ObjectStore
from services.uploader.handlers import UploadStage, register


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    runtime = ServiceRuntime("uploader", settings)
    objects = ObjectStore(settings)

    async def prepare_bucket() -> None:
        await asyncio.to_thread(objects.ensure_bucket)

    runtime.on_start(prepare_bucket)
    register(runtime.broker, runtime, UploadStage(runtime, objects))
    return runtime.asgi_app()

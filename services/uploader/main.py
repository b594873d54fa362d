"""Uploader service: consumes ``downloaded`` (and ``downloading``, to stream large files),
publishes ``stored``."""

import asyncio
import logging

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import consume
from infra.runtime import ServiceRuntime
from infra.storage import ObjectStore
from services.uploader.handlers import UploadStage
from services.uploader.janitor import abort_abandoned
from services.uploader.settings import UploaderSettings
from services.uploader.streaming import StreamStage

log = logging.getLogger(__name__)


def create_app(settings: UploaderSettings | None = None) -> AsgiFastStream:
    settings = settings or UploaderSettings()
    runtime = ServiceRuntime("uploader", settings)
    objects = ObjectStore(settings)

    async def prepare_bucket() -> None:
        await asyncio.to_thread(objects.ensure_bucket)

    async def janitor_loop() -> None:
        while True:
            await asyncio.sleep(settings.janitor_interval_seconds)
            try:
                await abort_abandoned(runtime.pool, objects)
            except Exception:
                log.exception("multipart upload sweep failed")

    runtime.on_start(prepare_bucket)
    runtime.run_in_background(janitor_loop)
    stage = UploadStage(runtime, settings, objects)
    consume(runtime.broker, settings.topology, Stage.DOWNLOADED, stage.handle)
    streams = StreamStage(runtime, settings, objects)
    consume(runtime.broker, settings.topology, Stage.DOWNLOADING, streams.handle,
            prefetch=settings.stream_uploads)
    return runtime.asgi_app()

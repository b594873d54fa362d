"""Uploader service: consumes ``downloaded`` (and ``downloading``, to stream large files),
publishes ``stored``."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra.broker import stage_router
from infra.runtime import ServiceRuntime
from infra.storage import ObjectStore
from services.uploader.batches import take_downloaded
from services.uploader.handlers import UploaderDeps, stream_downloading
from services.uploader.janitor import abort_abandoned
from services.uploader.settings import UploaderSettings

# The queue each handler takes (services/asyncapi.py documents them).
HANDLERS = {Stage.DOWNLOADED: take_downloaded, Stage.DOWNLOADING: stream_downloading}


def create_app(settings: UploaderSettings | None = None) -> AsgiFastStream:
    settings = settings or UploaderSettings()
    runtime = ServiceRuntime("uploader", settings)
    spool = runtime.serve_spool(beat=True)
    deps = runtime.deps(UploaderDeps, settings, spool_id=spool.spool,
                        objects=ObjectStore(settings),
                        puts=ThreadPoolExecutor(settings.batch_uploads,
                                                thread_name_prefix="put"))

    async def prepare_bucket() -> None:
        await asyncio.to_thread(deps.objects.ensure_bucket)

    async def abort_uploads() -> None:
        await abort_abandoned(runtime.pool, deps.objects)

    async def stop_puts() -> None:
        await asyncio.to_thread(deps.puts.shutdown)

    runtime.on_start(prepare_bucket)
    runtime.on_stop(stop_puts)
    runtime.metrics.expect(Stage.DOWNLOADED)
    runtime.run_every(settings.janitor_interval_seconds, abort_uploads,
                      what="multipart upload sweep")
    # Uploads share the broker's channel; streams have one of their own, so that a few
    # large files streaming never hold up the uploads of the rest.
    runtime.broker.include_router(stage_router(
        settings.topology, HANDLERS,
        prefetch={Stage.DOWNLOADING: settings.stream_uploads}, spool=spool,
    ))
    return runtime.asgi_app(deps)

"""Processor service: consumes ``jobs``, computes a CSV's column sums, records the result."""

from faststream.asgi import AsgiFastStream

from contracts import Stage
from infra import jobs
from infra.broker import stage_router
from infra.runtime import ServiceRuntime
from infra.storage import ObjectStore
from services.processor.handlers import ProcessorDeps, log_result, run_job
from services.processor.settings import ProcessorSettings

# The queue each handler takes (services/asyncapi.py documents them).
HANDLERS = {Stage.JOBS: run_job}


def create_app(settings: ProcessorSettings | None = None) -> AsgiFastStream:
    settings = settings or ProcessorSettings()
    runtime = ServiceRuntime("processor", settings)
    deps = runtime.deps(ProcessorDeps, settings, s3=ObjectStore(settings).client)

    async def reconcile() -> None:
        """Jobs whose worker died, or whose message was lost, are sent again; stored files
        that their server's rule matches get their job; results a dead worker recorded but
        did not log are logged."""
        for outgoing in await jobs.redrive_stalled(
                runtime.pool, idle_seconds=settings.job_redrive_after_seconds):
            await runtime.outbox.send(outgoing)
        for outgoing in await jobs.create_for_rules(runtime.pool):
            await runtime.outbox.send(outgoing)
        for job in await jobs.unlogged(runtime.pool,
                                       grace_seconds=settings.job_reconcile_seconds):
            await log_result(deps, job)

    runtime.run_every(settings.job_reconcile_seconds, reconcile, what="job reconciler")
    runtime.broker.include_router(stage_router(
        settings.topology, HANDLERS,
        prefetch={Stage.JOBS: settings.job_concurrency}))
    return runtime.asgi_app(deps)

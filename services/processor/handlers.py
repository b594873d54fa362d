"""The processor's subscriber: claim a job, stream its CSV through the sums, record the
result, append it to the results log."""

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from faststream import Context
from minio import Minio

from contracts import JobRequested
from infra import job_sources, jobs
from infra.broker import backoff_seconds
from infra.job_sources import SourceError
from infra.jobs import JobRow
from infra.retries import describe
from infra.runtime import StageDeps
from services.processor import results_log
from services.processor.csv_sums import CsvError, SumOptions, sum_columns
from services.processor.settings import ProcessorSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessorDeps(StageDeps):
    """``s3`` is the minio client jobs read objects with."""

    settings: ProcessorSettings
    s3: Minio


class JobAbandoned(Exception):
    """The job's claim was lost to another worker: this run stops where it is."""


@dataclass
class _Progress:
    """How far the worker thread got, read by the loop that records it."""

    bytes_done: int = 0
    rows_done: int = 0
    bytes_total: int | None = None  # known once the source is open
    lost: threading.Event = field(default_factory=threading.Event)

    def update(self, rows: int, consumed: int) -> None:
        if self.lost.is_set():
            raise JobAbandoned("the job's claim was lost; another worker runs it")
        self.rows_done, self.bytes_done = rows, consumed


async def run_job(msg: JobRequested, deps: Annotated[ProcessorDeps, Context()]) -> None:
    """The ``jobs`` queue's subscriber: one processing job, run under its lease."""
    settings = deps.settings
    job = await jobs.claim(deps.pool, msg.job_id, lease_seconds=settings.lease_seconds)
    if job is None:
        log.debug("job not claimable, ignored", extra={"job_id": str(msg.job_id)})
        return
    log.info("job started", extra={"job_id": str(job.id), "attempt": job.attempts})
    started = time.monotonic()
    progress = _Progress()
    keeper = asyncio.create_task(_keep_recording(deps, job, progress))
    try:
        result = await asyncio.to_thread(_compute, deps, job, progress)
    except JobAbandoned:
        log.info("job abandoned: its claim was lost", extra={"job_id": str(job.id)})
        return
    except Exception as exc:
        await _failed(deps, job, exc)
        return
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    result["duration_s"] = round(time.monotonic() - started, 3)
    done = await jobs.succeed(deps.pool, job, result, bytes_done=progress.bytes_done,
                              bytes_total=progress.bytes_total)
    if done is None:
        return
    log.info("job succeeded", extra={"job_id": str(job.id), "rows": result.get("rows")})
    deps.metrics.jobs.labels("succeeded").inc()
    deps.metrics.duration.labels("job").observe(result["duration_s"])
    await log_result(deps, done)


class BadOptions(ValueError):
    """The job's options are not ones the sums take (a job written past the API's checks)."""


def _compute(deps: ProcessorDeps, job: JobRow, progress: _Progress) -> dict[str, Any]:
    try:
        options = SumOptions(**job.options)
    except (TypeError, ValueError) as exc:
        raise BadOptions(f"unusable job options {job.options}: {exc}") from None
    settings = deps.settings
    with job_sources.opened(job.source, client=deps.s3, allowed_buckets=settings.job_buckets,
                            retries=settings.s3_read_retries,
                            local_root=settings.jobs_local_root) as (stream, size):
        progress.bytes_total = size
        return sum_columns(stream, options, progress=progress.update)


async def _keep_recording(deps: ProcessorDeps, job: JobRow, progress: _Progress) -> None:
    """Record the job's progress and renew its lease every ``job_progress_seconds``; a
    lost claim stops the worker thread at its next progress report."""
    while True:
        await asyncio.sleep(deps.settings.job_progress_seconds)
        try:
            held = await jobs.progress(deps.pool, job, bytes_done=progress.bytes_done,
                                       rows_done=progress.rows_done,
                                       bytes_total=progress.bytes_total,
                                       lease_seconds=deps.settings.lease_seconds)
        except Exception:  # the database may be back before the lease runs out
            log.warning("job progress not recorded", exc_info=True,
                        extra={"job_id": str(job.id)})
            continue
        if not held:
            progress.lost.set()
            return


async def _failed(deps: ProcessorDeps, job: JobRow, exc: Exception) -> None:
    """A source that cannot be read (refused, missing) or input that is not CSV fails the
    job at once; anything else (storage gone for longer than the resumes) is retried."""
    permanent = (isinstance(exc, CsvError | BadOptions)
                 or (isinstance(exc, SourceError) and exc.permanent))
    if not permanent and not isinstance(exc, SourceError | OSError):
        log.exception("unexpected job error", extra={"job_id": str(job.id)})
    retry = jobs.requested(job.id, delay=backoff_seconds(job.attempts))
    row = await jobs.release(deps.pool, job, error=describe(exc), permanent=permanent,
                             max_attempts=deps.settings.max_attempts, retry=retry)
    if row is None:
        return
    log.warning("job %s: %s", row.status, describe(exc),
                extra={"job_id": str(job.id), "status": row.status})
    deps.metrics.jobs.labels("retried" if row.status == jobs.QUEUED else "failed").inc()
    if row.status == jobs.QUEUED:
        await deps.outbox.send(retry)


async def log_result(deps: ProcessorDeps, job: JobRow) -> None:
    """Append the finished job's line to the shared results log, then note that it is
    there; if this process dies in between, the reconciler appends it (at least once)."""
    entry = {"job_id": str(job.id), "source": job.source, "file_id": job.file_id and
             str(job.file_id), "finished_at": job.finished_at and job.finished_at.isoformat(),
             "result": job.result}
    await asyncio.to_thread(results_log.append, deps.settings.results_log, entry)
    await jobs.mark_logged(deps.pool, job.id)

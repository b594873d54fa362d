"""The uploader's work on a batch of small files: one claim, their PUTs side by side over
the pooled connections, one finish.

Every file keeps its own outcome: one whose PUT fails goes to its own retry, a copy not in
the spool is lost alone; the ones stored are recorded together and go on as one batch to
the notifier.
"""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import uuid4

from faststream import Context

from contracts import DownloadedBatch, FileDownloaded, FileStored, Stage, StoredBatch
from infra import file_states
from infra.batches import each_or_together
from infra.file_states import FileWithServer, Finished, Status
from infra.object_keys import object_key
from infra.outbox import Outgoing
from infra.retries import retry_later
from services.uploader.handlers import (
    UploaderDeps,
    copy_lost,
    expected_failure,
    upload_downloaded,
)
from services.uploader.uploading import Stored, store

log = logging.getLogger(__name__)


async def take_downloaded(msg: DownloadedBatch | FileDownloaded,
                          deps: Annotated[UploaderDeps, Context()]) -> None:
    """The ``downloaded`` stage's subscriber: a file alone, or a batch of small ones."""
    large = deps.settings.large_file
    await each_or_together(
        msg, FileDownloaded, alone=lambda file: upload_downloaded(file, deps),
        together=lambda _, files: upload_batch(files, deps),
        too_large=lambda file: large(file.size))


async def upload_batch(files: list[FileDownloaded], deps: UploaderDeps) -> None:
    settings, objects = deps.settings, deps.objects
    rows = await file_states.claim_all(deps.pool, [file.file_id for file in files],
                                       deps.claiming, bucket=objects.bucket)
    if not rows:
        return
    spooled = {row.id: settings.spool.complete(row.id) for row in rows}
    present = await asyncio.to_thread(lambda: {row.id for row in rows
                                               if spooled[row.id].exists()})
    await asyncio.gather(*(copy_lost(deps, row) for row in rows if row.id not in present))
    rows = [row for row in rows if row.id in present]
    if not rows:
        return
    messages = {file.file_id: file for file in files}

    def put(row: FileWithServer) -> Stored | Exception:
        try:
            return store(objects, spooled[row.id], object_key(row), size=row.size,
                         sha256=row.sha256, md5=row.md5, retrying=row.attempts > 1)
        except Exception as exc:
            return exc

    async with file_states.lease_kept(deps.pool, [row.id for row in rows],
                                      status=Status.STORING,
                                      lease_seconds=settings.lease_seconds) as lost:
        # One hand-off to a thread for the batch, which spreads its PUTs over ``puts``.
        with deps.metrics.moving("out", sum(row.size for row in rows)):
            results = await asyncio.to_thread(lambda: list(deps.puts.map(put, rows)))
    if lost.is_set():
        log.info("claims lost during the batch's upload; the new owners record them")
        return
    stored: list[tuple[FileWithServer, Stored]] = []
    retries = []
    for row, result in zip(rows, results, strict=True):
        if isinstance(result, Stored):
            stored.append((row, result))
        else:
            if not expected_failure(result):
                log.error("unexpected upload error", exc_info=result,
                          extra={"file_id": str(row.id)})
            retries.append(retry_later(
                deps, messages[row.id], stage=Stage.DOWNLOADED, claimed=Status.STORING,
                back_to=Status.DOWNLOADED, event="upload_failed", error=result,
                transient=True, attempt=row.attempts))
    await asyncio.gather(*retries)
    if stored:
        await _record(deps, stored)
        await asyncio.to_thread(_unlink, [spooled[row.id] for row, _ in stored])


async def _record(deps: UploaderDeps, stored: list[tuple[FileWithServer, Stored]]) -> None:
    bucket = deps.objects.bucket
    now = datetime.now(UTC)

    def announced(rows: list[FileWithServer]) -> Outgoing:
        message = StoredBatch(batch_id=uuid4(), files=[
            FileStored(file_id=row.id, bucket=bucket, object_key=row.object_key)
            for row in rows])
        return Outgoing(Stage.STORED, message, f"{message.batch_id}:{Stage.STORED}")

    done = await file_states.finish_all(
        deps.pool, [Finished(row.id, {"bucket": bucket, "object_key": result.key,
                                      "etag": result.etag, "stored_at": now,
                                      "spool_losses": 0},
                             {"object_key": result.key, "etag": result.etag,
                              "size": row.size, "seconds": round(result.seconds, 3),
                              "skipped_identical": result.skipped,
                              "bytes_sent": result.bytes_sent})
                    for row, result in stored],
        expect=Status.STORING, to=Status.STORED, event="stored", then=announced,
        bucket=bucket, parts_already_stored=0, batch_files=len(stored))
    if not done.rows:
        return
    deps.metrics.transitions.labels("stored").inc(len(done.rows))
    deps.metrics.bytes.labels("out").inc(sum(row.size for row in done.rows))
    for _, result in stored:
        deps.metrics.duration.labels("upload").observe(result.seconds)
    if done.then is not None:
        await deps.outbox.send(done.then)


def _unlink(paths: list[Path]) -> None:
    """The copies of stored files go; the downloader's janitor removes any left behind."""
    for path in paths:
        path.unlink(missing_ok=True)


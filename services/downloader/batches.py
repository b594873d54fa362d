"""The downloader's work on a batch of small files: one claim, one session, one finish.

Every file keeps its own outcome: one that fails goes to its own retry (or to missing) as
it would alone; the ones copied are recorded together and go on as one batch to this
spool's uploaders.
"""

import asyncio
import logging
from typing import Annotated
from uuid import uuid4

from faststream import Context

from contracts import DiscoveredBatch, DownloadedBatch, FileDiscovered, FileDownloaded, Stage
from infra import file_states
from infra.batches import each_or_together
from infra.crypto import SecretBoxError
from infra.file_states import FileWithServer, Finished, Status
from infra.outbox import Outgoing
from infra.retries import describe, retry_later
from infra.servers import target_from_row
from infra.sftp.pool import HeldSlot, NoSessionSlot
from infra.sftp.session import RemoteFileChanged, RemoteFileGone, SftpError
from infra.sftp.slots import ServerGone
from services.downloader.batch_copy import BatchCopy, Copied, NotCopied, Remote, fetch_batch
from services.downloader.downloading import LeaseLost
from services.downloader.handlers import (
    DownloaderDeps,
    download_discovered,
    spool_takes,
    wait_for_slot,
)

log = logging.getLogger(__name__)


async def take_discovered(msg: DiscoveredBatch | FileDiscovered,
                          deps: Annotated[DownloaderDeps, Context()]) -> None:
    """The ``discovered`` stage's subscriber: a file alone, or a batch of small ones."""
    window = deps.settings.read_window_bytes
    await each_or_together(
        msg, FileDiscovered, alone=lambda file: download_discovered(file, deps),
        together=lambda batch, files: download_batch(batch, files, deps),
        too_large=lambda file: file.size > window)


async def download_batch(batch: DiscoveredBatch, together: list[FileDiscovered],
                         deps: DownloaderDeps) -> None:
    """Download ``together``, the batch's files that fit its window, on one session."""
    waiting = batch.model_copy(update={"files": together})  # what comes back if it waits
    if not await spool_takes(deps, waiting, sum(file.size for file in together)):
        return
    try:
        async with deps.sessions.slot(batch.server_id) as slot:
            await _claim_and_copy(deps, batch, together, slot)
    except NoSessionSlot as exc:
        await wait_for_slot(deps, waiting, exc)
    except ServerGone:  # a server with files cannot be deleted: no such files either
        log.debug("server gone, ignored", extra={"batch_id": str(batch.batch_id)})


async def _claim_and_copy(deps: DownloaderDeps, batch: DiscoveredBatch,
                          together: list[FileDiscovered], slot: HeldSlot) -> None:
    """The batch's work while its server's session slot is held: claim, copy, record."""
    rows = await file_states.claim_all(deps.pool, [file.file_id for file in together],
                                       deps.claiming, batch=str(batch.batch_id))
    if not rows:
        return
    messages = {file.file_id: file for file in together}
    try:
        copy = await _copy(deps, rows, slot)
    except LeaseLost:
        return
    except Exception as exc:  # nothing was copied: the session or the credentials failed
        if not isinstance(exc, SftpError | SecretBoxError | OSError):
            log.exception("unexpected batch download error",
                          extra={"batch_id": str(batch.batch_id)})
        copy = BatchCopy([NotCopied(row.id, exc) for row in rows], 0.0)
    attempts = {row.id: row.attempts for row in rows}
    failed = [outcome for outcome in copy.outcomes if isinstance(outcome, NotCopied)]
    await asyncio.gather(*(_give_back(deps, messages[outcome.file_id], outcome.error,
                                      attempts[outcome.file_id]) for outcome in failed))
    copied = [outcome for outcome in copy.outcomes if isinstance(outcome, Copied)]
    if copied:
        await _record(deps, copied, copy.seconds, batch)


async def _copy(deps: DownloaderDeps, rows: list[FileWithServer], slot: HeldSlot) -> BatchCopy:
    server = rows[0].server  # a batch is one server's: the claim returned it with each row
    if server is None:
        raise SftpError(f"server {rows[0].server_id} no longer exists")
    target = target_from_row(server, deps.box)
    settings = deps.settings
    files = [Remote(row.id, row.remote_path, row.size, row.remote_mtime) for row in rows]
    async with file_states.lease_kept(deps.pool, [row.id for row in rows],
                                      status=Status.DOWNLOADING,
                                      lease_seconds=settings.lease_seconds) as lost:
        with deps.metrics.moving("in", sum(row.size for row in rows)):  # connect included
            async with slot.session(target) as session:
                return await asyncio.to_thread(
                    fetch_batch, session, files, spool=settings.spool,
                    window=settings.read_window_bytes, abort=lost)


async def _give_back(deps: DownloaderDeps, message: FileDiscovered, error: Exception,
                     attempt: int) -> None:
    """One file of the batch failed: missing, or retried on its own like any file."""
    if isinstance(error, RemoteFileGone | RemoteFileChanged):
        await file_states.mark_missing(deps.pool, message.file_id, expect=Status.DOWNLOADING,
                                       reason=describe(error))
        return
    await retry_later(deps, message, stage=Stage.DISCOVERED, claimed=Status.DOWNLOADING,
                      back_to=Status.DISCOVERED, event="download_failed", error=error,
                      transient=getattr(error, "transient", True), attempt=attempt)


async def _record(deps: DownloaderDeps, copied: list[Copied], seconds: float,
                  batch: DiscoveredBatch) -> None:
    spool = deps.spool_id

    def downloaded(rows: list[FileWithServer]) -> Outgoing:
        message = DownloadedBatch(batch_id=uuid4(), spool=spool, files=[
            FileDownloaded(file_id=row.id, size=row.size, sha256=row.sha256, md5=row.md5,
                           spool=spool) for row in rows])
        return Outgoing(Stage.DOWNLOADED, message, f"{message.batch_id}:{Stage.DOWNLOADED}")

    done = await file_states.finish_all(
        deps.pool, [Finished(file.file_id, {"sha256": file.sha256, "md5": file.md5},
                             {"size": file.size}) for file in copied],
        expect=Status.DOWNLOADING, to=Status.DOWNLOADED, event="downloaded", then=downloaded,
        seconds=round(seconds, 3), resumed_from=0, batch=str(batch.batch_id),
        batch_files=len(batch.files))
    if not done.rows:
        return
    deps.metrics.transitions.labels("downloaded").inc(len(done.rows))
    deps.metrics.bytes.labels("in").inc(sum(row.size for row in done.rows))
    deps.metrics.duration.labels("download").observe(seconds)
    if done.then is not None:
        await deps.outbox.send(done.then)

"""The downloader's work on one file: claim, copy into the spool, record, announce."""

import asyncio
import logging
from dataclasses import dataclass
from typing import Annotated

from faststream import Context

from contracts import DiscoveredBatch, FileDiscovered, FileDownloaded, FileDownloading, Stage
from infra import file_states, transfer_progress
from infra.crypto import SecretBox, SecretBoxError
from infra.file_states import Claim, FileWithServer, Status
from infra.outbox import Outgoing
from infra.retries import describe, retry_later
from infra.runtime import StageDeps
from infra.servers import target_from_row
from infra.sftp.pool import HeldSlot, NoSessionSlot, SessionPool
from infra.sftp.session import RemoteFileChanged, RemoteFileGone, SftpError
from infra.sftp.slots import ServerGone
from infra.spool.registry import SpoolWatch
from infra.spool.space import SpoolFull, check_free_space
from infra.transfer_progress import Transfer
from services.downloader.downloading import Download, LeaseLost, fetch
from services.downloader.settings import DownloaderSettings
from services.downloader.spool_hashing import SpoolHashError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloaderDeps(StageDeps):
    """``sessions`` keeps SFTP connections open between files, each holding one of its
    server's session slots; ``box`` decrypts a server's credentials; ``spool_id`` names
    this host's spool, where the copies go, and ``spool_watch`` says whether its uploader
    still shows life."""

    settings: DownloaderSettings
    spool_id: str
    spool_watch: SpoolWatch
    sessions: SessionPool
    box: SecretBox

    @property
    def claiming(self) -> Claim:
        """A discovered file, into this host's spool, with its server's credentials."""
        return Claim(expect=Status.DISCOVERED, to=Status.DOWNLOADING,
                     lease_seconds=self.settings.lease_seconds, event="download_started",
                     into_spool=self.spool_id, credentials=True)


async def download_discovered(msg: FileDiscovered,
                              deps: Annotated[DownloaderDeps, Context()]) -> None:
    if not await spool_takes(deps, msg, msg.size):
        return
    try:
        async with deps.sessions.slot(msg.server_id) as slot:
            await _claim_and_download(deps, msg, slot)
    except NoSessionSlot as exc:
        await wait_for_slot(deps, msg, exc)
    except ServerGone:  # a server with files cannot be deleted: no such file either
        log.debug("server gone, ignored", extra={"file_id": str(msg.file_id)})


async def _claim_and_download(deps: DownloaderDeps, msg: FileDiscovered,
                              slot: HeldSlot) -> None:
    """The file's work while its server's session slot is held: claim, copy, record."""
    settings = deps.settings
    row = await file_states.claim(deps.pool, msg.file_id, deps.claiming)
    if row is None:
        log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
        return
    if settings.large_file(row.size):
        await _announce(deps, row)
    try:
        with deps.metrics.moving("in", row.size):
            download = await _download(deps, row, slot)
    except LeaseLost:
        return
    except (RemoteFileGone, RemoteFileChanged) as exc:
        await file_states.mark_missing(deps.pool, msg.file_id, expect=Status.DOWNLOADING,
                                       reason=describe(exc))
        return
    except Exception as exc:
        if not isinstance(exc, SftpError | SpoolFull | OSError | SecretBoxError
                          | SpoolHashError):
            log.exception("unexpected download error", extra={"file_id": str(msg.file_id)})
        await retry_later(
            deps, msg, stage=Stage.DISCOVERED, claimed=Status.DOWNLOADING,
            back_to=Status.DISCOVERED, event="download_failed", error=exc,
            transient=getattr(exc, "transient", True), attempt=row.attempts,
        )
        return
    downloaded = Outgoing(
        Stage.DOWNLOADED,
        FileDownloaded(file_id=msg.file_id, size=download.size, sha256=download.sha256,
                       md5=download.md5, spool=deps.spool_id),
        f"{msg.file_id}:{Stage.DOWNLOADED}",
    )
    done = await file_states.finish(
        deps.pool, msg.file_id, expect=Status.DOWNLOADING, to=Status.DOWNLOADED,
        event="downloaded", columns={"sha256": download.sha256, "md5": download.md5},
        then=downloaded, size=download.size, seconds=round(download.seconds, 3),
        mb_per_s=download.mb_per_s, resumed_from=download.resumed_from,
    )
    if done is None:
        return
    deps.metrics.transitions.labels("downloaded").inc()
    deps.metrics.bytes.labels("in").inc(download.size - download.resumed_from)
    deps.metrics.duration.labels("download").observe(download.seconds)
    await deps.outbox.send(downloaded)


async def spool_takes(deps: DownloaderDeps, message: FileDiscovered | DiscoveredBatch,
                      size: int) -> bool:
    """Whether this host's spool can take ``size`` more bytes now. When it cannot (full,
    or its uploader gone: a copy written here would only be lost), ``message`` waits,
    without spending an attempt, for this downloader or another host's, and False."""
    try:
        check_free_space(deps.settings.spool, size, deps.settings.spool_reserve_bytes)
    except SpoolFull as exc:
        await _wait(deps, message, "spool_full", str(exc),
                    delay=deps.settings.spool_wait_seconds)
        return False
    if not await deps.spool_watch.alive():
        await _wait(deps, message, "spool_silent",
                    f"spool {deps.spool_id} shows no life (its uploader is not running)",
                    delay=deps.settings.spool_wait_seconds)
        return False
    return True


async def wait_for_slot(deps: DownloaderDeps, message: FileDiscovered | DiscoveredBatch,
                        exc: NoSessionSlot) -> None:
    """No session to the partner came free: ``message`` comes back later, nothing claimed
    and no attempt spent."""
    await _wait(deps, message, "session_wait", str(exc),
                delay=deps.settings.session_slot_wait_seconds)


async def _wait(deps: DownloaderDeps, message: FileDiscovered | DiscoveredBatch,
                event: str, why: str, *, delay: float) -> None:
    key, name = ((message.file_id, "file_id") if isinstance(message, FileDiscovered)
                 else (message.batch_id, "batch_id"))
    log.warning("%s; retrying in %ss", why, delay, extra={name: str(key), "event": event})
    await deps.publisher.send_later(Stage.DISCOVERED, message, delay=delay,
                                    message_id=f"{key}:{Stage.DISCOVERED}")


async def _announce(deps: DownloaderDeps, row: FileWithServer) -> None:
    """Let the uploader stream this large file's parts while it downloads. Only saves
    time: if the broker will not take it now, the upload happens after the download."""
    try:
        await deps.publisher.send(
            Stage.DOWNLOADING,
            FileDownloading(file_id=row.id, size=row.size, spool=deps.spool_id),
            message_id=f"{row.id}:{Stage.DOWNLOADING}:{row.attempts}",
        )
    except Exception as exc:
        log.warning("could not announce the download (%s); it will be uploaded after it",
                    describe(exc), extra={"file_id": str(row.id)})


async def _download(deps: DownloaderDeps, row: FileWithServer, slot: HeldSlot) -> Download:
    server = row.server  # the claim returned it
    if server is None:
        raise SftpError(f"server {row.server_id} no longer exists")
    target = target_from_row(server, deps.box)
    settings = deps.settings
    async with (file_states.lease_kept(deps.pool, [row.id], status=Status.DOWNLOADING,
                                       lease_seconds=settings.lease_seconds) as lost,
                transfer_progress.reporting(deps.pool, row.id, Transfer.DOWNLOAD,
                                            total=row.size,
                                            every=settings.progress_seconds) as meter,
                slot.session(target) as session):
        return await asyncio.to_thread(
            fetch, session.client, row.remote_path, spool=settings.spool,
            file_id=str(row.id), size=row.size, mtime=row.remote_mtime,
            window=settings.read_window_bytes, read_size=session.read_size, abort=lost,
            meter=meter,
        )

"""The downloader's subscriber: claim, copy into the spool, record, announce."""

import asyncio
import logging

from contracts import FileDiscovered, FileDownloaded, FileDownloading, Stage
from infra import file_states
from infra.crypto import SecretBox, SecretBoxError
from infra.file_states import FileWithServer, Status
from infra.postgres import Pool
from infra.retries import describe, retry_later
from infra.runtime import ServiceRuntime
from infra.servers import target_from_row
from infra.sftp import RemoteFileChanged, RemoteFileGone, SftpError
from infra.sftp_pool import SessionPool
from services.downloader.downloading import (
    Download,
    LeaseLost,
    SpoolFull,
    check_free_space,
    fetch,
)
from services.downloader.settings import DownloaderSettings
from services.downloader.spool_hashing import SpoolHashError

log = logging.getLogger(__name__)

SPOOL_FULL_DELAY = 30.0


class DownloadStage:
    def __init__(self, runtime: ServiceRuntime, settings: DownloaderSettings,
                 sessions: SessionPool) -> None:
        self._runtime = runtime
        self._settings = settings
        self._pool: Pool = runtime.pool
        self._box = SecretBox(settings.secret_key)
        self._sessions = sessions

    async def handle(self, msg: FileDiscovered) -> None:
        settings, publisher = self._settings, self._runtime.publisher
        try:
            check_free_space(settings.spool_dir, msg.size, settings.spool_reserve_bytes)
        except SpoolFull as exc:
            # Not the file's fault: wait for space without spending an attempt.
            log.warning("%s; retrying in %ss", exc, SPOOL_FULL_DELAY,
                        extra={"file_id": str(msg.file_id), "event": "spool_full"})
            await publisher.send_later(Stage.DISCOVERED, msg, delay=SPOOL_FULL_DELAY,
                                       message_id=f"{msg.file_id}:{Stage.DISCOVERED}")
            return
        row = await file_states.claim(
            self._pool, msg.file_id, expect=Status.DISCOVERED, to=Status.DOWNLOADING,
            lease_seconds=settings.lease_seconds, event="download_started",
        )
        if row is None:
            log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
            return
        if settings.large_file(row.size):
            await self._announce(row)
        try:
            download = await self._download(row)
        except LeaseLost:
            return
        except (RemoteFileGone, RemoteFileChanged) as exc:
            await file_states.mark_missing(self._pool, msg.file_id, expect=Status.DOWNLOADING,
                                           reason=describe(exc))
            return
        except Exception as exc:
            if not isinstance(exc, SftpError | SpoolFull | OSError | SecretBoxError
                              | SpoolHashError):
                log.exception("unexpected download error", extra={"file_id": str(msg.file_id)})
            await retry_later(
                self._pool, publisher, file_id=msg.file_id, stage=Stage.DISCOVERED, message=msg,
                claimed=Status.DOWNLOADING, back_to=Status.DISCOVERED, event="download_failed",
                error=exc, transient=getattr(exc, "transient", True),
                max_attempts=settings.max_attempts,
            )
            return
        done = await file_states.finish(
            self._pool, msg.file_id, expect=Status.DOWNLOADING, to=Status.DOWNLOADED,
            event="downloaded", columns={"sha256": download.sha256, "md5": download.md5},
            size=download.size, seconds=round(download.seconds, 3), mb_per_s=download.mb_per_s,
            resumed_from=download.resumed_from,
        )
        if done is None:
            return
        self._runtime.metrics.transitions.labels("downloaded").inc()
        self._runtime.metrics.bytes.labels("in").inc(download.size - download.resumed_from)
        self._runtime.metrics.duration.labels("download").observe(download.seconds)
        await publisher.send(
            Stage.DOWNLOADED,
            FileDownloaded(file_id=msg.file_id, size=download.size, sha256=download.sha256,
                           md5=download.md5),
            message_id=f"{msg.file_id}:{Stage.DOWNLOADED}",
        )

    async def _announce(self, row: FileWithServer) -> None:
        """Let the uploader stream this large file's parts while it downloads. Only saves
        time: if the broker will not take it now, the upload happens after the download."""
        try:
            await self._runtime.publisher.send(
                Stage.DOWNLOADING, FileDownloading(file_id=row.id, size=row.size),
                message_id=f"{row.id}:{Stage.DOWNLOADING}:{row.attempts}",
            )
        except Exception as exc:
            log.warning("could not announce the download (%s); it will be uploaded after it",
                        describe(exc), extra={"file_id": str(row.id)})

    async def _download(self, row: FileWithServer) -> Download:
        server = row.server  # the claim returned it
        if server is None:
            raise SftpError(f"server {row.server_id} no longer exists")
        target = target_from_row(server, self._box)
        async with file_states.lease_kept(self._pool, row.id, status=Status.DOWNLOADING,
                                          lease_seconds=self._settings.lease_seconds) as lost:

            def copy() -> Download:
                with self._sessions.session(target, cap=server.max_connections) as session:
                    return fetch(
                        session.client, row.remote_path, spool=self._settings.spool_dir,
                        file_id=str(row.id), size=row.size, mtime=row.remote_mtime,
                        window=self._settings.read_window_bytes,
                        read_size=session.read_size, abort=lost,
                    )

            return await asyncio.to_thread(copy)


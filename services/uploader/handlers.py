"""The uploader's subscriber: claim, store and verify, record, drop the spool copy, announce."""

import asyncio
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

from minio.error import MinioException
from urllib3.exceptions import HTTPError

from contracts import FileDiscovered, FileDownloaded, FileStored, Stage
from infra import file_states
from infra.file_states import FileWithServer, Status
from infra.retries import retry_later
from infra.runtime import ServiceRuntime
from infra.storage import ObjectStore, StorageError
from services.uploader import upload_records
from services.uploader.settings import UploaderSettings
from services.uploader.spool_reader import SpoolNotGrowing, StreamAbandoned
from services.uploader.uploading import (
    Stored,
    discard_upload,
    object_key,
    store,
    store_in_parts,
)

log = logging.getLogger(__name__)


class UploadStage:
    def __init__(self, runtime: ServiceRuntime, settings: UploaderSettings,
                 objects: ObjectStore) -> None:
        self._runtime = runtime
        self._settings = settings
        self._pool = runtime.pool
        self._objects = objects

    async def handle(self, msg: FileDownloaded) -> None:
        settings, publisher = self._settings, self._runtime.publisher
        row = await file_states.claim(
            self._pool, msg.file_id, expect=Status.DOWNLOADED, to=Status.STORING,
            lease_seconds=settings.lease_seconds, event="upload_started",
            bucket=self._objects.bucket,
        )
        if row is None:
            log.debug("not claimable, ignored", extra={"file_id": str(msg.file_id)})
            return
        spooled = settings.spool_dir / str(msg.file_id)
        if not spooled.exists():
            await self._download_again(row)
            return
        key = object_key(row)
        try:
            async with file_states.lease_kept(self._pool, msg.file_id, status=Status.STORING,
                                              lease_seconds=settings.lease_seconds) as lost:
                result = await self._store(row, spooled, key, lost)
        except Exception as exc:
            if not isinstance(exc, StorageError | MinioException | HTTPError | OSError
                              | SpoolNotGrowing | StreamAbandoned):
                log.exception("unexpected upload error", extra={"file_id": str(msg.file_id)})
            await retry_later(
                self._pool, publisher, file_id=msg.file_id, stage=Stage.DOWNLOADED, message=msg,
                claimed=Status.STORING, back_to=Status.DOWNLOADED, event="upload_failed",
                error=exc, transient=True, max_attempts=settings.max_attempts,
            )
            return
        if lost.is_set():
            # Another worker claimed the file meanwhile; the object is the same either way.
            log.info("claim lost during the upload; the new owner records it",
                     extra={"file_id": str(msg.file_id)})
            return
        done = await file_states.finish(
            self._pool, msg.file_id, expect=Status.STORING, to=Status.STORED, event="stored",
            columns={"bucket": self._objects.bucket, "object_key": key, "etag": result.etag,
                     "stored_at": datetime.now(UTC)},
            bucket=self._objects.bucket, object_key=key, etag=result.etag, size=row.size,
            seconds=round(result.seconds, 3), skipped_identical=result.skipped,
            parts_already_stored=result.parts_already_stored, bytes_sent=result.bytes_sent,
            mb_per_s=result.mb_per_s,
        )
        if done is None:
            return
        self._runtime.metrics.transitions.labels("stored").inc()
        self._runtime.metrics.bytes.labels("out").inc(row.size)
        self._runtime.metrics.duration.labels("upload").observe(result.seconds)
        await publisher.send(
            Stage.STORED, FileStored(file_id=msg.file_id, bucket=self._objects.bucket,
                                     object_key=key),
            message_id=f"{msg.file_id}:{Stage.STORED}",
        )
        # Only now that the stored state is committed, and after the notice went on: freeing
        # a large file's blocks takes the filesystem a while (2.4 s at 10 GiB here). In a
        # thread, so the loop goes on meanwhile; if this process dies first, the
        # downloader's spool janitor removes the copy of a stored file.
        await asyncio.to_thread(spooled.unlink, missing_ok=True)

    async def _store(self, row: FileWithServer, spooled: Path, key: str,
                     lost: threading.Event) -> Stored:
        """In recorded parts (continuing what a streamer or an earlier attempt sent) from
        ``stream_upload_min_bytes`` on; in one go below."""
        common = {"size": row.size, "sha256": row.sha256, "md5": row.md5,
                  "retrying": row.attempts > 1}
        if self._settings.large_file(row.size):
            return await store_in_parts(self._pool, self._objects, spooled, key,
                                        file_id=row.id, abort=lost, **common)
        return await asyncio.to_thread(store, self._objects, spooled, key, **common)

    async def _download_again(self, row: FileWithServer) -> None:
        """The spool copy is gone (another host's volume, a wiped disk): fetch it anew.
        Parts sent from the old copy are dropped: the new copy starts a new upload."""
        if (record := await upload_records.get(self._pool, row.id)) is not None:
            await discard_upload(self._pool, self._objects, record)
        released = await file_states.release(
            self._pool, row.id, expect=Status.STORING, back_to=Status.DISCOVERED,
            event="spool_missing", error="spool copy not found; downloading again",
            permanent=row.server_id is None, max_attempts=self._runtime.settings.max_attempts,
        )
        if released is not None and released.status == Status.DISCOVERED:
            await self._runtime.publisher.send(
                Stage.DISCOVERED,
                FileDiscovered(file_id=row.id, server_id=row.server_id,
                               remote_path=row.remote_path, size=row.size),
                message_id=f"{row.id}:{Stage.DISCOVERED}",
            )


"""The streamer: a large file's parts go to storage while the file is still downloading.

Without it, a file's upload starts when its download ends, and the end-to-end time is the
sum of both. The downloader announces a large download (``FileDownloading``); one uploader
replica becomes the file's streamer (a lease on its ``multipart_uploads`` row), opens the
spool copy as it grows and sends each part once its bytes are there. It never completes
the upload: the checksums are known only once the download is recorded, and completing is
the upload stage's, which waits for the streamer to send the last parts, lists what the
server holds and sends whatever is still missing. So a streamer that dies, stalls or is
never started costs time, never a file.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID, uuid4

from minio.error import MinioException
from urllib3.exceptions import HTTPError

from infra import file_states, transfer_progress
from infra.file_states import Status
from infra.object_keys import object_key
from infra.postgres import Pool
from infra.storage import ObjectStore, StorageError
from infra.transfer_progress import Transfer
from services.uploader import upload_records
from services.uploader.parts import PartPlan, send_parts
from services.uploader.settings import UploaderSettings
from services.uploader.spool_reader import SpoolFile, SpoolNotGrowing, StreamAbandoned
from services.uploader.uploading import open_upload

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0
_STILL_COMING = {Status.DISCOVERED, Status.DOWNLOADING, Status.DOWNLOADED, Status.STORING}


async def stream(pool: Pool, objects: ObjectStore, settings: UploaderSettings,
                 file_id: UUID, *, spool_id: str) -> str | None:
    """Become the file's streamer and send its parts as they land in the spool; returns
    how the stream ended (``streamed``, ``stream_stopped``, ``stream_abandoned``), or None
    when this replica does not stream the file (it is downloaded into another spool)."""
    row = await file_states.get(pool, file_id)
    if (row is None or row.status not in (Status.DISCOVERED, Status.DOWNLOADING)
            or row.spool_id not in (None, spool_id)):
        return None
    if not settings.large_file(row.size):
        return None  # this replica uploads such a file in one go: parts sent now would be lost
    key = object_key(row)
    plan = PartPlan.for_size(row.size)
    token = uuid4()
    record = await upload_records.claim_streaming(
        pool, file_id, token=token, key=key, part_size=plan.part_size,
        lease_seconds=settings.lease_seconds)
    if record is None:
        log.debug("streamed elsewhere or no longer downloading",
                  extra={"file_id": str(file_id)})
        return None
    started = time.monotonic()
    try:
        async with _watched(pool, settings, file_id, token) as abandon:
            names = (settings.spool.partial(file_id), settings.spool.complete(file_id))
            spool = await asyncio.to_thread(SpoolFile.open, names, abort=abandon,
                                            stall_seconds=settings.lease_seconds)
            with spool:
                upload_id, stored = await open_upload(
                    pool, objects, file_id, key=key, plan=plan, spool=spool,
                    record=record, checksums=None)
                async with transfer_progress.reporting(
                        pool, file_id, Transfer.UPLOAD, total=row.size,
                        every=settings.progress_seconds) as meter:
                    await asyncio.to_thread(send_parts, objects, key, upload_id, plan,
                                            spool, stored, meter=meter)
    except StreamAbandoned:
        outcome = "stream_abandoned"
        log.info("stream abandoned: the download stopped for good, or the lease was lost",
                 extra={"file_id": str(file_id), "event": outcome})
    except (SpoolNotGrowing, StorageError, MinioException, HTTPError, OSError) as exc:
        outcome = "stream_stopped"
        log.warning("stream stopped: %s; the upload stage sends what is left", exc,
                    extra={"file_id": str(file_id), "event": outcome})
    else:
        outcome = "streamed"
        log.info("streamed %d parts in %.1fs", plan.count, time.monotonic() - started,
                 extra={"file_id": str(file_id), "event": outcome})
    finally:
        await upload_records.end_streaming(pool, file_id, token=token)
    return outcome


@asynccontextmanager
async def _watched(pool: Pool, settings: UploaderSettings, file_id: UUID,
                   token: UUID) -> AsyncIterator[threading.Event]:
    """Renew the stream's lease while the body runs; the event is set when the file
    will not be downloaded any further (missing, failed) or the lease was lost."""
    abandon = threading.Event()

    async def watch() -> None:
        while not abandon.is_set():
            await asyncio.sleep(WATCH_SECONDS)
            try:
                status = await upload_records.keep_streaming(
                    pool, file_id, token=token, lease_seconds=settings.lease_seconds)
            except Exception:  # the database may be back before the lease runs out
                log.warning("stream lease renewal failed", exc_info=True,
                            extra={"file_id": str(file_id)})
                continue
            if status not in _STILL_COMING:
                abandon.set()

    watcher = asyncio.create_task(watch())
    try:
        yield abandon
    finally:
        abandon.set()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
